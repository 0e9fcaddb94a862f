"""Method modules of the benchmark runner: each defines ``METHODS`` (and optionally ``TASKS``)."""

import importlib
import pkgutil


def discover():
    """Import every module of this package; return ``(methods, tasks)`` keyed by name."""
    methods, tasks = {}, {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for method in getattr(module, "METHODS", []):
            if method.name in methods:
                raise ValueError(f"Two benchmark methods are named {method.name!r}.")
            methods[method.name] = method
        for task in getattr(module, "TASKS", []):
            tasks[task.name] = task
    return methods, tasks
