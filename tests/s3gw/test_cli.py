import subprocess


def test_s3gw_says_plainly_that_it_is_not_ready() -> None:
    out = subprocess.run(["s3gw", "serve"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "not available yet" in out.stderr and "Traceback" not in out.stderr
