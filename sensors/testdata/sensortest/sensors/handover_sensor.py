import os
import time

from st2reactor.sensor.base import Sensor


class HandoverSensor(Sensor):
    def setup(self):
        pass

    def run(self):
        self.sensor_service.dispatch(trigger="sensortest.handover_event", payload={"pid": os.getpid()})
        while True:
            time.sleep(3600)

    def cleanup(self):
        # Slow on purpose: a graceful worker stop must wait for it.
        time.sleep(0.5)
        with open("@LOGFILE@.cleanup", "a") as f:
            f.write("cleanup %d\n" % os.getpid())

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass
