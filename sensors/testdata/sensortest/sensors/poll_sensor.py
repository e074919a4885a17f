from helperlib import SUFFIX
from st2reactor.sensor.base import PollingSensor


class PollSensor(PollingSensor):
    def setup(self):
        self._logger = self.sensor_service.get_logger(name=self.__class__.__name__)

    def poll(self):
        count = int(self.sensor_service.get_value("count") or 0) + 1
        self.sensor_service.set_value("count", count)
        self._logger.info("poll %d", count)
        print("a print must not break the protocol")
        self.sensor_service.dispatch(
            trigger="sensortest.event",
            payload={
                "count": count,
                "greeting": self.config.get("greeting") + SUFFIX,
                "global": self.sensor_service.get_value("sensortest.PollSensor:count", local=False),
                "listed": [kv.name for kv in self.sensor_service.list_values()],
            },
            trace_tag="poll-%d" % count,
        )

    def cleanup(self):
        pass

    def add_trigger(self, trigger):
        self.sensor_service.dispatch("sensortest.event", {"added": trigger["parameters"]})

    def update_trigger(self, trigger):
        self.sensor_service.dispatch("sensortest.event", {"updated": trigger["parameters"]})

    def remove_trigger(self, trigger):
        self.sensor_service.dispatch("sensortest.event", {"removed": trigger["parameters"]})
