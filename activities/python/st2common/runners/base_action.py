"""Base class of StackStorm Python actions, as provided by Squall.

Actions subclass Action and implement run(**parameters). Squall's wrapper
builds the instance with the pack config and calls run().
"""

import abc
import logging
import sys

__all__ = ["Action", "ActionService", "PackConfigDict"]

_LOG_FORMAT = "%(name)-12s: %(levelname)-8s %(message)s"
_loggers = {}


def get_logger_for_python_runner_action(action_name, log_level="debug"):
    """Logger named actions.python.<ActionClass> writing to stderr."""
    name = "actions.python.%s" % (action_name,)
    logger = _loggers.get(name)
    if logger is None:
        level = getattr(logging, str(log_level).upper(), logging.DEBUG)
        if not isinstance(level, int):
            level = logging.DEBUG
        logger = logging.getLogger(name)
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        logger.addHandler(handler)
        logger.setLevel(level)
        _loggers[name] = logger
    return logger


class PackConfigDict(dict):
    """The pack config; a missing key says which pack config lacks it."""

    def __init__(self, pack_name, *args):
        super(PackConfigDict, self).__init__(*args)
        self._pack_name = pack_name

    def __getitem__(self, key):
        try:
            return super(PackConfigDict, self).__getitem__(key)
        except KeyError:
            raise ValueError(
                'Config for pack "%s" is missing key "%s". Make sure that the pack config '
                "(configs/%s.yaml) exists and contains that key."
                % (self._pack_name, key, self._pack_name)
            )


class ActionService(object):
    """What an action can ask of the platform through self.action_service.

    Squall does not give Python actions datastore access yet: these methods
    raise NotImplementedError saying so, rather than returning wrong data.
    """

    def __init__(self, action_wrapper=None):
        self._action_wrapper = action_wrapper

    def _unsupported(self, method):
        raise NotImplementedError(
            "action_service.%s() is not supported by Squall yet: Python actions "
            "cannot use the datastore" % (method,)
        )

    def get_user_info(self):
        self._unsupported("get_user_info")

    def list_values(self, local=True, prefix=None):
        self._unsupported("list_values")

    def get_value(self, name, local=True, scope="system", decrypt=False):
        self._unsupported("get_value")

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        self._unsupported("set_value")

    def delete_value(self, name, local=True, scope="system"):
        self._unsupported("delete_value")


class Action(object, metaclass=abc.ABCMeta):
    """Base class for Python actions."""

    description = None

    def __init__(self, config=None, action_service=None):
        self.config = config or {}
        self.action_service = action_service

        wrapper = getattr(action_service, "_action_wrapper", None)
        log_level = getattr(wrapper, "_log_level", "debug") if wrapper else "debug"
        pack_name = getattr(wrapper, "_pack", "unknown") if wrapper else "unknown"

        self.config = PackConfigDict(pack_name, self.config)
        self.logger = get_logger_for_python_runner_action(
            action_name=self.__class__.__name__, log_level=log_level
        )

    @abc.abstractmethod
    def run(self, **kwargs):
        pass
