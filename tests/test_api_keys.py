"""API keys: the key document's rules, where keys come from, and `lakehouse api-key`.
The service's answers with keys are in ``tests/serving/test_auth.py``."""

from __future__ import annotations

import json
import logging
import stat
import uuid

import pytest
from click.testing import CliRunner

from lakehouse import api_keys, secrets
from lakehouse.api_keys import ADMIN, PREDICT, digest, entry, load_keys, new_key
from lakehouse.cli import cli
from lakehouse.config import load_settings
from lakehouse.secrets import SecretError


@pytest.fixture(autouse=True)
def fresh_cache():
    secrets.clear_cache()
    yield
    secrets.clear_cache()


def on(*sets: str, env: str = "local"):
    return load_settings(env, overrides=["serve.auth.enabled=true", *sets])


def keys_file(tmp_path, *entries) -> str:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": list(entries)}))
    return str(path)


def test_keys_are_random_and_kept_only_as_a_hash(tmp_path):
    key, other = new_key(), new_key()
    assert key != other and key.startswith("lh_") and len(key) >= 40
    item = entry("checkout", key, [PREDICT])
    assert item == {"id": "checkout", "sha256": digest(key), "roles": [PREDICT]}
    assert key not in json.dumps(item)

    ring = load_keys(on(f"serve.auth.keys_file={keys_file(tmp_path, item)}"))
    assert ring is not None and ring.ids == ["checkout"]
    found = ring.identify(key)
    assert found is not None and found.allows(PREDICT) and not found.allows(ADMIN)
    assert ring.identify(other) is None and ring.identify(item["sha256"]) is None


def test_admin_may_do_everything():
    ring = api_keys.KeyRing(
        api_keys.parse_document(json.dumps({"keys": [entry("ops", "k-admin", [ADMIN])]}), "test")
    )
    assert ring.identify("k-admin").allows(PREDICT)


def test_off_in_local_is_said_loudly(caplog):
    with caplog.at_level(logging.WARNING):
        assert load_keys(load_settings("local")) is None
    assert "API AUTHENTICATION IS OFF" in caplog.text


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_off_is_refused_outside_local(env):
    with pytest.raises(SecretError, match=r"serve\.auth\.enabled=false is allowed in env local"):
        load_keys(load_settings(env, overrides=["serve.auth.enabled=false"]))


def test_on_without_keys_is_a_clear_error():
    with pytest.raises(SecretError, match=r"no keys are configured: set serve\.auth\.keys_file"):
        load_keys(on())


GOOD = entry("a", "key-a", [PREDICT])


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not JSON or YAML"),
        ('{"entries": []}', 'expected {"keys": [...]}'),
        (json.dumps({"keys": ["x"]}), "entry 0 is not a mapping"),
        (json.dumps({"keys": [{**GOOD, "key": "clear"}]}), "unknown fields ['key']"),
        (json.dumps({"keys": [{**GOOD, "id": "a b"}]}), "entry 0: id must be"),
        (json.dumps({"keys": [{**GOOD, "sha256": "abc"}]}), "entry 0 (a): sha256 must be"),
        (json.dumps({"keys": [{**GOOD, "roles": ["root"]}]}), "entry 0 (a): roles must be"),
        (json.dumps({"keys": [{**GOOD, "roles": []}]}), "entry 0 (a): roles must be"),
        (json.dumps({"keys": [GOOD, {**GOOD, "id": "b"}]}), "entry 1 repeats a key"),
        (json.dumps({"keys": []}), "hold no key"),
    ],
)
def test_a_malformed_document_is_one_clear_error(tmp_path, document, message):
    path = tmp_path / "keys.json"
    path.write_text(document)
    with pytest.raises(SecretError) as raised:
        load_keys(on(f"serve.auth.keys_file={path}"))
    assert message in str(raised.value) and GOOD["sha256"] not in str(raised.value)


def test_an_unreadable_keys_file_is_a_clear_error(tmp_path):
    with pytest.raises(SecretError, match=r"cannot read the API keys file .*missing\.json"):
        load_keys(on(f"serve.auth.keys_file={tmp_path / 'missing.json'}"))


def test_keys_from_secrets_manager_and_a_file_together(moto, monkeypatch, tmp_path):
    for name, value in moto.env.items():
        monkeypatch.setenv(name, value)
    secret = f"lakehouse/test/api-keys-{uuid.uuid4().hex[:8]}"
    document = json.dumps({"keys": [entry("billing", "key-billing", [ADMIN])]})
    moto.client("secretsmanager").create_secret(Name=secret, SecretString=document)
    settings = on(
        f"secrets.api_keys={secret}",
        f"serve.auth.keys_file={keys_file(tmp_path, entry('checkout', 'key-co', [PREDICT]))}",
        env="staging",
    )
    ring = load_keys(settings)
    assert ring.ids == ["billing", "checkout"]
    assert ring.identify("key-billing").allows(ADMIN)

    # one id in both places is refused: which key would it be?
    twice = keys_file(tmp_path, entry("billing", "other", [PREDICT]))
    secrets.clear_cache()
    with pytest.raises(SecretError, match=r"'billing' in .* is already given elsewhere"):
        load_keys(on(f"secrets.api_keys={secret}", f"serve.auth.keys_file={twice}"))
    secrets.clear_cache()
    with pytest.raises(SecretError, match=r"API keys from AWS Secrets Manager .*ResourceNotFound"):
        load_keys(on("secrets.api_keys=lakehouse/test/none"))


def test_cli_creates_rotates_and_revokes_keys_in_a_file(tmp_path):
    path = tmp_path / "conf" / "keys.json"
    runner = CliRunner()
    made = runner.invoke(
        cli, ["api-key", "create", "checkout", "--role", "predict", "--keys-file", str(path)]
    )
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("lh_") and key not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = on(f"serve.auth.keys_file={path}")
    assert load_keys(settings).identify(key).id == "checkout"

    again = runner.invoke(
        cli, ["api-key", "create", "checkout", "--role", "admin", "--keys-file", str(path)]
    )
    assert again.exit_code == 2 and "--replace rotates it" in again.output
    rotated = runner.invoke(
        cli,
        ["api-key", "create", "checkout", "--role", "admin", "--keys-file", str(path), "--replace"],
    )
    assert rotated.exit_code == 0, rotated.output
    new = rotated.stdout.strip()
    ring = load_keys(settings)
    assert ring.identify(key) is None and ring.identify(new).allows(ADMIN)

    made = runner.invoke(
        cli, ["api-key", "create", "ops", "--role", "admin", "--keys-file", str(path)]
    )
    revoked = runner.invoke(cli, ["api-key", "revoke", "checkout", "--keys-file", str(path)])
    assert revoked.exit_code == 0, revoked.output
    assert load_keys(settings).ids == ["ops"]
    missing = runner.invoke(cli, ["api-key", "revoke", "checkout", "--keys-file", str(path)])
    assert missing.exit_code == 2 and "has no key 'checkout'" in missing.output


def test_cli_prints_an_entry_for_a_secret_without_a_file():
    made = CliRunner().invoke(cli, ["api-key", "create", "batch", "--role", "predict"])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    printed = json.loads(made.stderr.strip().splitlines()[-1])
    assert printed == {"id": "batch", "sha256": digest(key), "roles": ["predict"]}
