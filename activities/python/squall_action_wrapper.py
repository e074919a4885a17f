"""Runs one StackStorm Python action for Squall.

Protocol with the Go runner (activities/python.go):
  stdin  one JSON object: pack, file_path, pack_path, parameters, config,
         user, log_level. Read to EOF, then stdin is /dev/null for the action.
  fd 3   the outcome, one JSON object {"result": ..., "status": true|false|null}.
         It is written apart from stdout so that whatever the action prints
         stays its output and nothing has to be parsed out of it.
  exit   0 when run() returned, 1 on an exception (traceback on stderr),
         220 when run() returned a status that is not a boolean.
"""

import importlib.util
import inspect
import json
import os
import sys
import traceback

INVALID_STATUS_EXIT_CODE = 220

INVALID_STATUS_MESSAGE = (
    "If this is an existing action which returns a tuple with two items, it needs to "
    "return either a list instead of a tuple, or a tuple whose first item is a status "
    "flag - (True, ('item1', 'item2')).\n"
)


class _Wrapper(object):
    """Carries what Action.__init__ looks up through action_service."""

    def __init__(self, pack, log_level):
        self._pack = pack
        self._log_level = log_level
        self._class_name = None


def _load_action_class(file_path, action_base):
    module_name = os.path.splitext(os.path.basename(file_path))[0]
    try:
        spec = importlib.util.spec_from_file_location(module_name, file_path)
        if spec is None or spec.loader is None:
            raise ImportError("cannot load a Python module from %s" % (file_path,))
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception as e:
        raise type(e)(
            'Failed to load action class from file "%s" (the file most likely does not '
            "exist or contains invalid syntax): %s\n\n%s"
            % (file_path, e, traceback.format_exc())
        )

    classes = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__
        and issubclass(cls, action_base)
        and cls is not action_base
        and not inspect.isabstract(cls)
    ]
    if not classes:
        raise Exception('File "%s" has no action class.' % (file_path,))
    # Like StackStorm, the first class by name wins when there are several.
    return classes[0]


def _instantiate(action_cls, config, service):
    try:
        return action_cls(config=config, action_service=service)
    except TypeError as e:
        if "unexpected keyword argument" not in str(e):
            raise
        # Actions written before action_service existed.
        instance = action_cls(config=config)
        instance.action_service = service
        return instance


def main():
    request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    sys.stdin = open(os.devnull, "r")

    out = os.fdopen(3, "w", encoding="utf-8")
    os.set_inheritable(3, False)  # processes the action starts must not see it

    file_path = request["file_path"]
    pack_path = request.get("pack_path") or ""
    # Same lookup order as StackStorm: the action's own directory, the pack's
    # actions/lib, then the pack-wide lib/.
    extra = [os.path.dirname(os.path.abspath(file_path))]
    if pack_path:
        extra += [os.path.join(pack_path, "actions", "lib"), os.path.join(pack_path, "lib")]
    for p in reversed(extra):
        if p not in sys.path:
            sys.path.insert(0, p)

    from st2common.runners.base_action import Action, ActionService

    wrapper = _Wrapper(request.get("pack") or "unknown", request.get("log_level") or "debug")
    action_cls = _load_action_class(file_path, Action)
    wrapper._class_name = action_cls.__name__
    action = _instantiate(action_cls, request.get("config") or {}, ActionService(wrapper))

    output = action.run(**(request.get("parameters") or {}))

    status = None
    result = output
    if isinstance(output, tuple) and len(output) == 2:
        status, result = output
    if status is not None and not isinstance(status, bool):
        sys.stderr.write(
            "Status returned from the action run() method must either be True or False, "
            "got: %s\n" % (status,)
        )
        sys.stderr.write(INVALID_STATUS_MESSAGE)
        sys.stderr.flush()
        return INVALID_STATUS_EXIT_CODE

    try:
        payload = json.dumps({"result": result, "status": status}, allow_nan=False)
    except (TypeError, ValueError):
        # Not JSON (a class instance, NaN, ...): StackStorm falls back to str().
        payload = json.dumps({"result": str(result), "status": status})

    sys.stdout.flush()
    out.write(payload)
    out.close()
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        code = 1
    sys.exit(code)
