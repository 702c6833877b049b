"""Server key files: errors name the file once and say what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from server_stub.deploy import keys
from sync.wire.envelope import CLASSIC
from sync.wire.envelope_open import ServerPrivateKey


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    priv, pub = tmp_path / "seal.key", tmp_path / "seal.pub"
    keys.write_seal_keys(priv, pub, ServerPrivateKey.generate(CLASSIC))
    return priv, pub


def test_a_written_pair_reads_back(tmp_path: Path) -> None:
    priv, pub = _pair(tmp_path)
    assert keys.load_seal_private(priv).public_key() == keys.load_seal_public(pub)
    assert oct(priv.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("damage", ["missing", "readable", "wrong tag", "bad base64"])
def test_a_bad_private_key_file_is_named_once(tmp_path: Path, damage: str) -> None:
    priv, pub = _pair(tmp_path)
    if damage == "missing":
        priv.unlink()
    elif damage == "readable":
        priv.chmod(0o644)
    elif damage == "wrong tag":
        priv.write_text(pub.read_text())
        priv.chmod(0o600)
    else:
        priv.write_text("fieldkit-seal-private-v1 x25519 ***\n")
        priv.chmod(0o600)
    with pytest.raises(keys.KeyFileError) as e:
        keys.load_seal_private(priv)
    assert str(e.value).count(str(priv)) == 1, str(e.value)


def test_a_bad_public_key_file_is_named_once(tmp_path: Path) -> None:
    _, pub = _pair(tmp_path)
    pub.write_text("fieldkit-seal-public-v1 x25519 AAAA\n")  # 3 bytes, not 32
    with pytest.raises(keys.KeyFileError) as e:
        keys.load_seal_public(pub)
    assert str(e.value).count(str(pub)) == 1 and "32 bytes" in str(e.value)
