"""Base classes of StackStorm sensors, as Squall provides them.

The interface is StackStorm's (st2reactor.sensor.base): a sensor gets a
sensor_service and its pack's config, and implements setup, run, cleanup and
the trigger callbacks. PollingSensor calls poll() every poll_interval seconds.
"""

import abc
import time

__all__ = ["BaseSensor", "Sensor", "PollingSensor"]


class BaseSensor(abc.ABC):
    def __init__(self, sensor_service, config=None):
        self._sensor_service = sensor_service
        self.sensor_service = sensor_service
        self._config = config or {}
        self.config = self._config

    @abc.abstractmethod
    def setup(self):
        """Run once before run(): connect, open files, ..."""

    @abc.abstractmethod
    def run(self):
        """Run the sensor; returns only when it stops."""

    @abc.abstractmethod
    def cleanup(self):
        """Run when the sensor stops: release what setup() acquired."""

    @abc.abstractmethod
    def add_trigger(self, trigger):
        """A rule started using a trigger of one of the sensor's types."""

    @abc.abstractmethod
    def update_trigger(self, trigger):
        """The parameters of a trigger changed."""

    @abc.abstractmethod
    def remove_trigger(self, trigger):
        """No rule uses the trigger any more."""


class Sensor(BaseSensor):
    """A sensor that runs on its own (listens, waits for events)."""

    @abc.abstractmethod
    def run(self):
        pass


class PollingSensor(BaseSensor):
    """A sensor whose poll() runs every poll_interval seconds."""

    def __init__(self, sensor_service, config=None, poll_interval=5):
        super(PollingSensor, self).__init__(sensor_service=sensor_service, config=config)
        self._poll_interval = poll_interval

    @abc.abstractmethod
    def poll(self):
        """Look for events once; dispatch what is found."""

    def run(self):
        while True:
            self.poll()
            time.sleep(self._poll_interval)

    def get_poll_interval(self):
        return self._poll_interval

    def set_poll_interval(self, poll_interval):
        self._poll_interval = poll_interval
