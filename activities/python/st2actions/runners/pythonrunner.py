from st2common.runners.base_action import Action  # noqa: F401

__all__ = ["Action"]
