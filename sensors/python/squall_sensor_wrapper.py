"""Runs one StackStorm Python sensor for Squall.

The Go side (sensors/run.go) starts this file with the shim directory on
PYTHONPATH and speaks the JSON-lines protocol of sensors/PROTOCOL.md with it:
the first line on stdin is {"init": {...}} (pack, class, file, config, ...),
then {"triggers": [...]} whenever the sensor's triggers change and the
answers to datastore requests. The sensor's dispatches, log records and
datastore requests go out as lines on the original stdout; whatever the
sensor itself prints goes to stderr, so it cannot corrupt the protocol.

Exit status: 0 when run() returned or the sensor was stopped (SIGTERM, or
stdin closed because Squall went away), 1 when loading, setup() or run()
raised (traceback on stderr).
"""

import importlib.util
import json
import logging
import os
import queue
import signal
import sys
import threading
import traceback

SYSTEM_SCOPES = ("system", "st2kv.system")
KV_TIMEOUT_SECONDS = 60

# st2's loggers have an AUDIT level above CRITICAL; sensors call .audit().
AUDIT = logging.CRITICAL + 10
logging.addLevelName(AUDIT, "AUDIT")


def _audit(self, msg, *args, **kwargs):
    if self.isEnabledFor(AUDIT):
        self._log(AUDIT, msg, args, **kwargs)


logging.Logger.audit = _audit


class Channel(object):
    """The protocol connection: line-delimited JSON in both directions."""

    def __init__(self, rfile, wfile):
        self._r = rfile
        self._w = wfile
        self._wlock = threading.Lock()
        self._plock = threading.Lock()
        self._pending = {}
        self._next_id = 0
        self._closed = False
        self.triggers = queue.Queue()

    def send(self, msg):
        line = json.dumps(msg, default=str) + "\n"
        with self._wlock:
            self._w.write(line)
            self._w.flush()

    def read_message(self):
        line = self._r.readline()
        if not line:
            raise EOFError("Squall closed the sensor's stdin before sending init")
        return json.loads(line.decode("utf-8"))

    def request(self, kv):
        slot = {"done": threading.Event()}
        with self._plock:
            if self._closed:
                raise RuntimeError("the connection to Squall is closed")
            self._next_id += 1
            rid = self._next_id
            self._pending[rid] = slot
        try:
            self.send({"kv": kv, "id": rid})
            if not slot["done"].wait(KV_TIMEOUT_SECONDS):
                raise RuntimeError("Squall did not answer a datastore request in time")
        finally:
            with self._plock:
                self._pending.pop(rid, None)
        if slot.get("error"):
            raise RuntimeError(slot["error"])
        return slot.get("result")

    def read_loop(self, on_eof):
        try:
            for raw in self._r:
                try:
                    msg = json.loads(raw.decode("utf-8"))
                except ValueError:
                    continue
                if not isinstance(msg, dict):
                    continue
                if "triggers" in msg:
                    self.triggers.put(msg["triggers"] or [])
                elif "id" in msg:
                    with self._plock:
                        slot = self._pending.get(msg["id"])
                    if slot is not None:
                        slot["result"] = msg.get("result")
                        slot["error"] = msg.get("error")
                        slot["done"].set()
        finally:
            with self._plock:
                self._closed = True
                for slot in self._pending.values():
                    slot["error"] = "the connection to Squall is closed"
                    slot["done"].set()
            on_eof()


class ProtocolLogHandler(logging.Handler):
    def __init__(self, channel):
        super(ProtocolLogHandler, self).__init__()
        self._channel = channel

    def emit(self, record):
        try:
            self._channel.send(
                {"log": {"level": record.levelname.lower(), "message": self.format(record),
                         "logger": record.name}}
            )
        except Exception:
            self.handleError(record)


class KeyValuePair(object):
    """What list_values returns, with st2client's KeyValuePair attributes."""

    def __init__(self, item):
        self.id = item.get("name")
        self.name = item.get("name")
        self.value = item.get("value")
        self.scope = item.get("scope")
        self.user = item.get("user")
        self.secret = item.get("secret", False)
        self.encrypted = self.secret
        self.expire_timestamp = item.get("expire_timestamp")

    def __repr__(self):
        return "<KeyValuePair name=%s,value=%s>" % (self.name, self.value)


def _check_scope(scope):
    # Like st2's sensor datastore service, sensors work in the system scope.
    if scope not in SYSTEM_SCOPES:
        raise ValueError("Scope %s is unsupported." % (scope,))


class SensorService(object):
    """The sensor_service a StackStorm sensor is given (st2's interface)."""

    def __init__(self, channel, logger):
        self._channel = channel
        self._logger = logger

    def get_logger(self, name):
        logger = logging.getLogger("%s.%s" % (self._logger.name, name))
        logger.propagate = True
        return logger

    def dispatch(self, trigger, payload=None, trace_tag=None):
        self._send_dispatch(trigger, payload, trace_tag)

    def dispatch_with_context(self, trigger, payload=None, trace_context=None):
        tag = None
        if isinstance(trace_context, dict):
            tag = trace_context.get("trace_tag")
        elif trace_context is not None:
            tag = getattr(trace_context, "trace_tag", None)
        self._send_dispatch(trigger, payload, tag)

    def _send_dispatch(self, trigger, payload, trace_tag):
        if not isinstance(trigger, str):
            raise TypeError("trigger must be a string (a trigger ref), got %r" % (trigger,))
        if payload is not None and not isinstance(payload, dict):
            raise TypeError("payload must be a dict, got %r" % (type(payload),))
        msg = {"trigger": trigger, "payload": payload or {}}
        if trace_tag:
            msg["trace_tag"] = trace_tag
        self._logger.debug("Dispatching trigger (trigger=%s,payload=%s)", trigger, payload)
        self._channel.send({"dispatch": msg})

    def list_values(self, local=True, prefix=None):
        items = self._channel.request({"op": "list", "local": bool(local), "prefix": prefix or ""})
        return [KeyValuePair(i) for i in (items or [])]

    def get_value(self, name, local=True, scope="system", decrypt=False):
        _check_scope(scope)
        try:
            item = self._channel.request({"op": "get", "name": name, "local": bool(local)})
        except Exception as e:
            # st2 logs and returns None when the datastore cannot be read.
            self._logger.exception("Exception retrieving value from datastore (name=%s): %s", name, e)
            return None
        return item.get("value") if item else None

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        _check_scope(scope)
        req = {"op": "set", "name": name, "value": value if isinstance(value, str) else str(value),
               "local": bool(local), "secret": bool(encrypt)}
        if ttl:
            req["ttl"] = ttl
        self._channel.request(req)
        return True

    def delete_value(self, name, local=True, scope="system"):
        _check_scope(scope)
        try:
            return bool(self._channel.request({"op": "delete", "name": name, "local": bool(local)}))
        except Exception as e:
            self._logger.exception("Exception deleting value from datastore (name=%s): %s", name, e)
            return False


def _load_sensor_class(file_path, class_name):
    module_name = os.path.splitext(os.path.basename(file_path))[0]
    try:
        spec = importlib.util.spec_from_file_location(module_name, file_path)
        if spec is None or spec.loader is None:
            raise ImportError("cannot load a Python module from %s" % (file_path,))
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception as e:
        raise ValueError(
            'Failed to load sensor class from file "%s" (sensor file most likely doesn\'t '
            "exist or contains invalid syntax): %s\n\n%s" % (file_path, e, traceback.format_exc())
        )
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ValueError('Sensor module is missing a class with name "%s"' % (class_name,))
    return cls


def _watch_triggers(channel, sensor, logger):
    """Turns full trigger lists into add/update/remove_trigger calls."""
    known = {}
    while True:
        triggers = channel.triggers.get()
        while True:  # only the latest list matters
            try:
                triggers = channel.triggers.get_nowait()
            except queue.Empty:
                break
        current = {}
        for t in triggers:
            current[str(t.get("id") or t.get("ref"))] = t
        calls = []
        for tid, t in current.items():
            if tid not in known:
                calls.append(("add_trigger", t))
            elif known[tid] != t:
                calls.append(("update_trigger", t))
        for tid, t in known.items():
            if tid not in current:
                calls.append(("remove_trigger", t))
        known = current
        for method, t in calls:
            logger.debug('Calling sensor "%s" method (trigger.type=%s)', method, t.get("type"))
            try:
                getattr(sensor, method)(trigger=t)
            except Exception:
                logger.exception('Sensor "%s" method raised an exception', method)


def main():
    # Private copies of the protocol pipes (os.dup'ed descriptors are not
    # inherited by processes the sensor starts); fd 0 becomes /dev/null and
    # fd 1 the stderr pipe, so prints cannot corrupt the protocol.
    in_fd = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull, "r")
    channel = Channel(os.fdopen(in_fd, "rb"), os.fdopen(out_fd, "w", encoding="utf-8"))

    init = channel.read_message().get("init") or {}
    pack = init.get("pack") or "unknown"
    class_name = init["class_name"]
    file_path = init["entry_point"]
    pack_path = init.get("pack_path") or ""

    handler = ProtocolLogHandler(channel)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("SensorWrapper.%s.%s" % (pack, class_name))
    logger.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    # StackStorm's lookup order: the sensor's own directory, then the
    # pack-wide lib/.
    extra = [os.path.dirname(os.path.abspath(file_path))]
    if pack_path:
        extra.append(os.path.join(pack_path, "lib"))
    for p in reversed(extra):
        if p not in sys.path:
            sys.path.insert(0, p)

    from st2reactor.sensor.base import PollingSensor

    sensor_cls = _load_sensor_class(file_path, class_name)
    kwargs = {"sensor_service": SensorService(channel, logger), "config": init.get("config") or {}}
    poll_interval = init.get("poll_interval")
    if poll_interval and issubclass(sensor_cls, PollingSensor):
        kwargs["poll_interval"] = poll_interval
    try:
        sensor = sensor_cls(**kwargs)
    except Exception:
        logger.exception('Failed to instantiate "%s" sensor class', class_name)
        raise

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    # Squall gone (stdin closed): stop like on SIGTERM, with cleanup.
    reader = threading.Thread(
        target=channel.read_loop, args=(lambda: os.kill(os.getpid(), signal.SIGTERM),),
        name="squall-protocol", daemon=True)
    reader.start()

    logger.info("Running sensor initialization code")
    sensor.setup()
    try:
        threading.Thread(target=_watch_triggers, args=(channel, sensor, logger),
                         name="squall-triggers", daemon=True).start()
        if poll_interval and isinstance(sensor, PollingSensor):
            logger.info("Running sensor in active mode (poll interval=%ss)", poll_interval)
        else:
            logger.info("Running sensor in passive mode")
        try:
            sensor.run()
        except SystemExit:
            raise
        except Exception as e:
            logger.warning('Sensor "%s" run method raised an exception: %s.', class_name, e, exc_info=True)
            raise
    finally:
        logger.info("Invoking cleanup on sensor")
        try:
            sensor.cleanup()
        except Exception:
            logger.exception("Sensor cleanup failed")
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 0
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        code = 1
    sys.stdout.flush()
    sys.exit(code)
