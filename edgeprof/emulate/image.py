"""Build an emulated board's image with the recipe script, into a cache keyed by the recipe's hash."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgeprof.emulate.buildhost import build_route, refusal
from edgeprof.emulate.paths import images_dir
from edgeprof.emulate.recipe import SCRIPT, Recipe, script_bytes
from edgeprof.errors import ConfigError, DeviceError

STEP_MARK = "==> STEP "
FILES = ("vmlinuz", "initrd.img", "rootfs.qcow2", "id_ed25519", "id_ed25519.pub", "ssh_host_ed25519_key.pub")
StepCallback = Callable[[str, str], None]


@dataclass(frozen=True)
class Image:
    """A finished image directory: kernel, initrd, root disk, client key and the guest's host public key."""

    name: str
    key: str
    dir: Path

    def path(self, file: str) -> Path:
        """One of the image's files (see FILES)."""
        return self.dir / file

    def complete(self) -> bool:
        """True when every file of a finished build is there."""
        return all((self.dir / f).is_file() for f in FILES) and (self.dir / "manifest.json").is_file()

    def host_key_line(self) -> str:
        """The guest's host public key as '<type> <base64>' (the known_hosts form, without a host name)."""
        kind, blob, *_ = self.path("ssh_host_ed25519_key.pub").read_text().split()
        return f"{kind} {blob}"


def image_for(recipe: Recipe) -> Image:
    """Where the image of this recipe (at the script's current bytes) lives, built or not."""
    key = recipe.cache_key(script_bytes())
    return Image(recipe.name, key, images_dir() / f"{recipe.name}-{key}")


def built_image(recipe: Recipe) -> Image:
    """The finished image of a recipe, or a ConfigError saying how to build it."""
    image = image_for(recipe)
    if not image.complete():
        raise ConfigError(f"no image for '{recipe.name}' in {images_dir()}: run `edgeprof emulate build {recipe.name}`")
    return image


def build_image(recipe: Recipe, on_step: StepCallback, *, force: bool = False) -> tuple[Image, bool]:
    """Build (or reuse) the image; returns it and whether it was a cache hit. Steps are reported as they start."""
    image = image_for(recipe)
    if image.complete() and not force:
        return image, True
    route = build_route()
    if route.missing:
        raise ConfigError(refusal(route))
    partial = image.dir.with_name(image.dir.name + ".partial")
    log = image.dir.with_name(image.dir.name + ".log")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    started = time.monotonic()
    step, last = _run_recipe(recipe, route.prefix, partial, log, on_step)
    if step != "done":
        raise DeviceError(f"image build failed at step '{step}': {last or 'no output'} (log: {log})")
    manifest = {
        "recipe": recipe.name, "key": image.key, "env": recipe.env(),
        "wheels": (partial / "wheels.txt").read_text().split(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_s": round(time.monotonic() - started, 1),
    }
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(image.dir, ignore_errors=True)
    partial.rename(image.dir)
    return image, False


def recipe_argv(prefix: tuple[str, ...], outdir: Path) -> list[str]:
    """The command that runs the recipe script into outdir (behind the build route's prefix)."""
    return [*prefix, "/bin/sh", str(SCRIPT), str(outdir)]


def recipe_env(recipe: Recipe) -> dict[str, str]:
    """The environment of a build: ours, the recipe's variables, and this Python's pip."""
    return {**os.environ, **recipe.env(), "PIP": f"{sys.executable} -m pip", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _run_recipe(recipe: Recipe, prefix: tuple[str, ...], outdir: Path, log: Path,
                on_step: StepCallback) -> tuple[str, str]:
    """Run the script, everything to the log; report steps; return (last step, last non-step output line)."""
    step, last = "start", ""
    with log.open("w") as out:
        proc = subprocess.Popen(recipe_argv(prefix, outdir), env=recipe_env(recipe), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            out.flush()
            if line.startswith(STEP_MARK):
                step, _, what = line[len(STEP_MARK):].strip().partition(": ")
                on_step(step, what)
            elif line.strip() and not line.startswith("WARNING: Location"):
                last = line.strip()
        code = proc.wait()
    if code != 0 and step == "done":
        step = "finish"
    return step, last
