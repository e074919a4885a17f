from st2common.runners.base_action import Action

from e2e_helpers import double


class PyAction(Action):
    def run(self, n, fail=False):
        self.logger.info("doubling %s", n)
        print("stdout from python")
        if fail:
            return (False, {"why": "asked to fail"})
        return {"greeting": self.config["greeting"], "double": double(n)}
