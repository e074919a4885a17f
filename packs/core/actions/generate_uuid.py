# Squall's own entry point for core.uuid.
import uuid

from st2common.runners.base_action import Action


class GenerateUUID(Action):
    def run(self, uuid_type="uuid4"):
        if uuid_type == "uuid1":
            return str(uuid.uuid1())
        if uuid_type == "uuid4":
            return str(uuid.uuid4())
        raise ValueError("unknown uuid_type %r: use uuid1 or uuid4" % uuid_type)
