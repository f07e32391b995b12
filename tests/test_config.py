"""Unit tests: which config files are read, in what order, and how keys are checked."""

from __future__ import annotations

import grp
import os
from pathlib import Path

import platformdirs
import pytest

from uvshare import config
from uvshare.errors import ConfigError


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment whose config files all live under tmp_path (no /etc/uvshare, no real home)."""
    monkeypatch.setattr(config, "SYSTEM_CONFIG", str(tmp_path / "etc" / "uvshare" / "config.toml"))
    values = {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_DIRS": f"{tmp_path / 'xdg1'}:{tmp_path / 'xdg2'}",
        "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"),
    }
    for key in ("HOME", "XDG_CONFIG_DIRS", "XDG_CONFIG_HOME", config.ENV_CONFIG):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"XDG_CONFIG_DIRS": "/a:/b"},
        {"XDG_CONFIG_DIRS": "relative:/b"},
        {"XDG_CONFIG_DIRS": "  "},
        {"XDG_CONFIG_HOME": "/x/config"},
        {"XDG_CONFIG_HOME": "relative"},
        {"HOME": "/home/someone"},
    ],
)
def test_xdg_dirs_match_platformdirs(environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The every-call path computes platformdirs' answers itself (to skip its import); they must agree."""
    for key in ("XDG_CONFIG_DIRS", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", "/home/tester")
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert config.site_config_dirs(os.environ) == platformdirs.site_config_dir("uvshare", multipath=True).split(":")
    assert config.user_config_dir(os.environ) == platformdirs.user_config_dir("uvshare")


def test_order_system_then_site_then_user(env: dict[str, str], tmp_path: Path) -> None:
    """Later files override earlier ones; the first XDG_CONFIG_DIRS entry matters most, so it comes later."""
    paths = config.config_paths(os.environ)
    assert paths == [
        config.SYSTEM_CONFIG,
        str(tmp_path / "xdg2" / "uvshare" / "config.toml"),
        str(tmp_path / "xdg1" / "uvshare" / "config.toml"),
        str(tmp_path / "home" / ".config" / "uvshare" / "config.toml"),
    ]


def test_keys_override_key_by_key(env: dict[str, str], tmp_path: Path) -> None:
    write(Path(config.SYSTEM_CONFIG), 'group = 0\numask = "0007"\ncache-dir = "/srv/cache"\n')
    write(tmp_path / "xdg2" / "uvshare" / "config.toml", 'cache-dir = "/xdg2/cache"\ntool-dir = "/xdg2/tools"\n')
    write(tmp_path / "xdg1" / "uvshare" / "config.toml", 'cache-dir = "/xdg1/cache"\n')
    user = write(tmp_path / "home" / ".config" / "uvshare" / "config.toml", "skip-installed = false\n")
    loaded = config.load(os.environ)
    assert loaded is not None
    assert loaded.gid == 0 and loaded.umask == 0o007 and loaded.skip_installed is False
    assert loaded.dirs == {"cache-dir": "/xdg1/cache", "tool-dir": "/xdg2/tools"}
    assert loaded.origins["cache-dir"] == str(tmp_path / "xdg1" / "uvshare" / "config.toml")
    assert loaded.origins["skip-installed"] == str(user)
    assert len(loaded.files) == 4


def test_uvshare_config_alone_is_read(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(Path(config.SYSTEM_CONFIG), 'cache-dir = "/system"\n')
    only = write(tmp_path / "only.toml", 'tool-dir = "/only"\n')
    monkeypatch.setenv(config.ENV_CONFIG, str(only))
    loaded = config.load(os.environ)
    assert loaded is not None and loaded.dirs == {"tool-dir": "/only"} and loaded.files == (str(only),)


def test_uvshare_config_missing_is_an_error(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.ENV_CONFIG, str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=r"nope\.toml: no such file .*UVSHARE_CONFIG"):
        config.load(os.environ)


def test_no_config_anywhere(env: dict[str, str]) -> None:
    assert config.load(os.environ) is None


def test_defaults(env: dict[str, str]) -> None:
    write(Path(config.SYSTEM_CONFIG), 'group = "root"\n')
    loaded = config.load(os.environ)
    assert loaded is not None
    assert (loaded.gid, loaded.umask, loaded.skip_installed, loaded.uv, loaded.dirs) == (0, 0o002, True, None, {})


def test_config_is_frozen(env: dict[str, str]) -> None:
    write(Path(config.SYSTEM_CONFIG), "group = 0\n")
    loaded = config.load(os.environ)
    assert loaded is not None
    with pytest.raises(AttributeError):
        loaded.umask = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("a = 1\ngroup = \n", r"invalid TOML: .*line 2"),
        ("grop = 'x'\n", r"unknown key 'grop'; did you mean 'group'\?"),
        ("python-instal-dir = '/x'\n", r"did you mean 'python-install-dir'\?"),
        ("zzzzzz = 1\n", r"unknown key 'zzzzzz'; the keys are: group, umask"),
        ("umask = 2\n", r"key 'umask' must be a string like \"0002\""),
        ("umask = '0000'\n", r"key 'umask' is '0000', which leaves new files world-writable"),
        ("umask = '0001'\n", r"world-writable"),
        ("umask = '0022'\n", r"takes group read/write off"),
        ("umask = '9'\n", r"must be octal digits"),
        ("group = true\n", r"key 'group' must be a group name or a numeric gid"),
        ("group = -1\n", r"must be a gid from 0 to 4294967294"),
        ("group = 'no-such-group-xyz'\n", r"unknown group 'no-such-group-xyz'; create it \(groupadd"),
        ("cache-dir = 'relative/dir'\n", r"key 'cache-dir' must be an absolute path"),
        ("tool-dir = 3\n", r"key 'tool-dir' must be a string"),
        ("skip-installed = 'yes'\n", r"key 'skip-installed' must be true or false"),
        ("uv = '/no/such/uv'\n", r"key 'uv': /no/such/uv does not exist"),
        ("uv = '{tmp}/plain-file'\n", r"key 'uv': /.*/plain-file is not executable"),
    ],
)
def test_bad_config_names_file_and_key(env: dict[str, str], tmp_path: Path, text: str, pattern: str) -> None:
    write(tmp_path / "plain-file", "not a program\n").chmod(0o644)
    path = write(Path(config.SYSTEM_CONFIG), text.replace("{tmp}", str(tmp_path)))
    with pytest.raises(ConfigError, match=pattern) as caught:
        config.load(os.environ)
    assert str(caught.value).startswith(f"{path}: ")


def test_group_name_and_gid(env: dict[str, str]) -> None:
    name = grp.getgrgid(0).gr_name
    for text, gid in ((f"group = '{name}'", 0), ("group = 0", 0), ("group = 4242", 4242), ("group = '4242'", 4242)):
        write(Path(config.SYSTEM_CONFIG), text + "\n")
        loaded = config.load(os.environ)
        assert loaded is not None and loaded.gid == gid, text
