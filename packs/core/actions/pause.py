# Squall's own entry point for core.pause: sleep for max_pause seconds, or a
# random whole number of seconds up to max_pause when random is true.
import random as _random
import time

from st2common.runners.base_action import Action


class PauseAction(Action):
    def run(self, max_pause, random=False):
        seconds = _random.randint(0, max_pause) if random else max_pause
        time.sleep(seconds)
        return seconds
