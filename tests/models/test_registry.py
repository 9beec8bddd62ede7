"""The family registry has no import side effects, and presets live with their family."""

import pkgutil
import subprocess
import sys

import equiformers
from equiformers.models.registry import FAMILIES, count_parameters, list_presets


def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    """Import cycles show when a module is the first of the package to be imported: import each
    one alone (the package's modules dropped from sys.modules in between)."""
    names = [m.name for m in pkgutil.walk_packages(equiformers.__path__, "equiformers.")
             if not m.name.endswith("__main__")]  # (running the CLI is not importing)
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    for loaded in [m for m in sys.modules if m == 'equiformers' or m.startswith('equiformers.')]:\n"
            "        del sys.modules[loaded]\n"
            "    importlib.import_module(name)\n"
            "print('ok', len(sys.modules) > 0)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "equiformers.models.equiformer.model" in names and "equiformers.so3.wigner" in names


def test_registry_imports_no_family():
    code = ("import sys, equiformers.models.registry as r\n"
            "print(any(m.startswith('equiformers.models.equiformer') for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr[-2000:]


def test_presets_are_found_in_their_family_folder():
    from importlib import resources

    presets = list_presets()
    assert {p["model"] for p in presets.values()} <= set(FAMILIES)
    for name, preset in presets.items():  # each preset lives in its own family's folder
        folder = resources.files(f"equiformers.models.{preset['model']}") / "presets"
        assert (folder / f"{name}.yaml").is_file(), name
    assert sum(p["model"] == "equiformer" for p in presets.values()) == 6


def test_count_parameters_matches_a_built_model():
    spec = {"preset": "equiformer-qm9", "num_layers": 1, "channels": [8, 4], "num_heads": 2}
    assert count_parameters(spec) == sum(p.numel() for p in equiformers.build_model(spec).parameters())
