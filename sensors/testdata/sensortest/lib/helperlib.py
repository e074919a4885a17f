# Imported by poll_sensor.py: the pack's lib/ is on sys.path.
SUFFIX = "!"
