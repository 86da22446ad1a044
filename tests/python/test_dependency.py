"""The README's dependency line, in a crate of a user's own outside this workspace.

The `git =` form needs the network, so the test uses the `path =` form the README gives beside
it, with the crate's path where the README puts a clone. The program is the README's Rust
snippet (examples/tour.rs) with the test server's URL. It builds offline against this
workspace's lock file, so the versions are the ones the workspace was tested with, and the
crates already built are reused.
"""

import os
import re
import shutil
import subprocess
import tomllib

from conftest import ROOT


def readme_dependency():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    block = next(b for b in re.findall(r"^```toml\n(.*?)^```", readme, flags=re.S | re.M) if "smbus-proxy-client" in b)
    return block.splitlines()


def test_the_git_line_names_this_repository():
    workspace = tomllib.load(open(os.path.join(ROOT, "Cargo.toml"), "rb"))
    line = next(line for line in readme_dependency() if line.startswith("smbus-proxy-client"))
    assert line == f'smbus-proxy-client = {{ git = "{workspace["workspace"]["package"]["repository"]}" }}'


def test_a_crate_of_ones_own_depends_on_the_client_as_the_readme_says(tmp_path, server):
    lines = readme_dependency()
    assert lines[0] == "[dependencies]"
    path_line = next(line for line in lines if "path =" in line)
    dependency = path_line.split(": ", 1)[1]
    assert dependency == 'smbus-proxy-client = { path = "../smbus-proxy/crates/client" }'
    # A clone beside the crate: this checkout, by its real path, so the workspace's build of
    # the client is the one reused.
    dependency = dependency.replace("../smbus-proxy", ROOT)

    crate = tmp_path / "my-driver"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text(
        f'[package]\nname = "my-driver"\nversion = "0.1.0"\nedition = "2024"\n\n[dependencies]\n{dependency}\n'
    )
    shutil.copy(os.path.join(ROOT, "Cargo.lock"), crate / "Cargo.lock")
    tour = open(os.path.join(ROOT, "crates/client/examples/tour.rs"), encoding="utf-8").read()
    assert '"http://127.0.0.1:50051"' in tour
    (crate / "src/main.rs").write_text(tour.replace('"http://127.0.0.1:50051"', f'"http://{server}"'))

    target = os.path.join(ROOT, os.environ.get("CARGO_TARGET_DIR", "target"))
    run = subprocess.run(
        ["cargo", "run", "--offline", "--quiet"],
        cwd=crate,
        env={**os.environ, "CARGO_TARGET_DIR": target},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(r"id 0x[0-9a-f]{2}\ntemp 0x[0-9a-f]{4}\n", run.stdout), run.stdout
