import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = shutil.which("docker-compose")


def test_the_compose_file_validates_with_the_example_environment(tmp_path: Path):
    assert COMPOSE, "docker-compose missing: `make sysdeps` installs it"
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")

    result = subprocess.run(
        [COMPOSE, "config", "--services"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {
        "db",
        "redis",
        "migrate",
        "web",
        "worker",
        "beat",
        "dicom",
    }
