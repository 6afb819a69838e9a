"""Hatchling build hook: compile the optional accelerator, four small C extensions: the
writer's per-batch loop (src/tradetrail/core/_chain.c), the caller's raw-event encoding
(core/_rawjson.c), the writer's shaping of it (core/_shape.c) and the shared-memory ring
between a client and its writer (writer/_ring.c).

With a C compiler and OpenSSL's headers (Debian: libssl-dev) the wheel gets the extension and
a platform tag; without them the build warns once and the wheel stays pure Python, which runs
the same code paths in Python (slower). An editable install compiles it in place, next to the
source. TRADETRAIL_BUILD_ACCELERATOR=0 skips it; =1 makes a failed compile fail the build (CI).
CC, CFLAGS, LDFLAGS and LDSHARED are honoured as distutils did.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

EXTENSIONS: list[tuple[str, list[str]]] = [
    ("tradetrail/core/_chain", ["-lcrypto"]),
    ("tradetrail/core/_rawjson", []),
    ("tradetrail/core/_shape", []),
    ("tradetrail/writer/_ring", []),
]
"""(module path under src/, libraries): each is built from `src/<module>.c`."""


def compile_command(source: Path, target: Path, libraries: list[str]) -> list[str]:
    ldshared = os.environ.get("LDSHARED") or sysconfig.get_config_var("LDSHARED")
    if not ldshared:
        raise RuntimeError("this Python does not say how to link an extension (no LDSHARED)")
    command = shlex.split(ldshared)
    if os.environ.get("CC") and not os.environ.get("LDSHARED"):
        command[0:1] = shlex.split(os.environ["CC"])
    include = sysconfig.get_paths()["include"]
    return [
        *command,
        "-O2",
        "-fPIC",
        "-Wall",
        *shlex.split(os.environ.get("CFLAGS", "")),
        f"-I{include}",
        str(source),
        "-o",
        str(target),
        *shlex.split(os.environ.get("LDFLAGS", "")),
        *libraries,
    ]


class AcceleratorHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        wanted = os.environ.get("TRADETRAIL_BUILD_ACCELERATOR", "").strip()
        if wanted == "0":
            return
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        root = Path(self.root)
        if version != "editable":
            self._tmp = tempfile.mkdtemp(prefix="tradetrail-build-")
        for module, libraries in EXTENSIONS:
            name = module.rsplit("/", 1)[1]
            if version == "editable":
                target = root / f"src/{module}{suffix}"
            else:
                target = Path(self._tmp) / f"{name}{suffix}"
            command = compile_command(root / f"src/{module}.c", target, libraries)
            try:
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                failure = (
                    (done.stderr.strip() or f"exit status {done.returncode}")
                    if done.returncode
                    else None
                )
            except OSError as exc:
                failure = str(exc)
            if failure is not None:
                if wanted == "1":
                    raise RuntimeError(f"building the accelerator ({name}) failed: {failure}")
                self.app.display_warning(
                    "tradetrail: the optional C accelerator was not built (a C compiler and "
                    "OpenSSL's headers are needed); installing the pure-Python writer, which "
                    f"is slower. {shlex.join(command)}: {failure.splitlines()[-1]}"
                )
                return
            if version != "editable":
                build_data["force_include"][str(target)] = f"{module}{suffix}"
        if version != "editable":
            build_data["pure_python"] = False
            build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
