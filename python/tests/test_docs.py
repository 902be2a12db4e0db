"""Everything public has a docstring (help() shows it) and a stub (editors
complete it)."""

import inspect
import re
from pathlib import Path

import recur
import recur.layers

STUBS = (Path(recur.__file__).parent / "_recur.pyi").read_text()


def public(module):
    for name in module.__all__:
        obj = getattr(module, name)
        if not inspect.ismodule(obj) and not isinstance(obj, str):
            yield name, obj


def test_every_public_class_function_and_method_has_a_docstring():
    missing = []
    for module in (recur, recur.layers):
        for name, obj in public(module):
            if not (obj.__doc__ or "").strip():
                missing.append(name)
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if not (getattr(member, "__doc__", None) or "").strip():
                        missing.append(f"{name}.{attr}")
    assert not missing, missing


def test_every_native_name_has_a_stub():
    native = [name for name, _ in public(recur) if getattr(recur._recur, name, None) is not None]
    stubbed = set(re.findall(r"^(?:class|def) (\w+)", STUBS, re.M))
    assert set(native) - {"__version__"} <= stubbed, set(native) - stubbed
    for name, obj in public(recur):
        if inspect.isclass(obj) and name in stubbed:
            block = STUBS.split(f"class {name}", 1)[1].split("\nclass ", 1)[0]
            methods = {a for a in vars(obj) if not a.startswith("_")}
            stubbed_methods = set(re.findall(r"def (\w+)", block))
            assert methods <= stubbed_methods, (name, methods - stubbed_methods)
