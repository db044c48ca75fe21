"""`s3gw` command-line errors: one clear line, no traceback."""

import subprocess


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["s3gw", *args], capture_output=True, text=True, timeout=60)


def test_no_command_is_a_usage_error() -> None:
    out = _run()
    assert out.returncode == 2 and "usage:" in out.stderr and "Traceback" not in out.stderr


def test_missing_config_file(tmp_path) -> None:
    out = _run("serve", "--config", str(tmp_path / "nope.toml"), "--data-dir", str(tmp_path))
    assert out.returncode == 1
    assert out.stderr.strip() == f"s3gw: config file not found: {tmp_path / 'nope.toml'}"


def test_bad_config_values(tmp_path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text('port = "many"\n')
    out = _run("serve", "--config", str(config))
    assert out.returncode == 1 and "port" in out.stderr and "Traceback" not in out.stderr
    config.write_text("colour = 1\n")
    out = _run("serve", "--config", str(config))
    assert out.returncode == 1 and "unknown setting 'colour'" in out.stderr


def test_half_set_environment_credentials(tmp_path) -> None:
    import os

    env = dict(os.environ, S3GW_ACCESS_KEY="only-the-key")
    env.pop("S3GW_SECRET_KEY", None)
    out = subprocess.run(
        ["s3gw", "serve", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 1
    assert "S3GW_ACCESS_KEY and S3GW_SECRET_KEY" in out.stderr and "Traceback" not in out.stderr
