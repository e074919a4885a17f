from st2reactor.sensor.base import PollingSensor


class Poller(PollingSensor):
    def setup(self):
        self._n = 0
        self._logger = self.sensor_service.get_logger(name=self.__class__.__name__)

    def poll(self):
        self._n += 1
        self._logger.info("poll %d", self._n)
        self.sensor_service.dispatch(trigger="e2eev.polled", payload={"n": self._n})

    def cleanup(self):
        pass

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass
