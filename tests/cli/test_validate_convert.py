"""``loom validate`` and ``loom convert``, and the command skeleton they live in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import loom
from loom import cli
from loom.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "parallel_marketing" / "flow.json"
LOOM_BIN = Path(sys.executable).parent / "loom"


def small_flow(version: str = "25.4.1") -> dict:
    def ref(key: str) -> dict:
        return {"$component_ref": key}

    text = {"title": "text", "type": "string"}
    return {
        "component_type": "Flow", "id": "f", "name": "echo_flow",
        "start_node": ref("s"), "nodes": [ref("s"), ref("e")],
        "control_flow_connections": [
            {"component_type": "ControlFlowEdge", "id": "c", "name": "c",
             "from_node": ref("s"), "to_node": ref("e")}],
        "data_flow_connections": None,
        "$referenced_components": {
            "s": {"component_type": "StartNode", "id": "s", "name": "start", "inputs": [text]},
            "e": {"component_type": "EndNode", "id": "e", "name": "end", "inputs": [text]},
        },
        "agentspec_version": version,
    }


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.json"
    path.write_text(json.dumps(small_flow()))
    return path


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    doc = small_flow()
    doc["nodes"][1] = {"$component_ref": "nowhere"}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def with_secret(tmp_path: Path) -> Path:
    doc = {
        "component_type": "OpenAiCompatibleConfig", "id": "prod_llm", "name": "prod",
        "model_id": "m", "url": "https://llm.example/v1", "api_key": "sk-live-123",
        "agentspec_version": "25.4.2",
    }
    path = tmp_path / "llm.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


# -- validate ---------------------------------------------------------------------------------


def test_validate_ok(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert out == f"OK {good} (Flow 'echo_flow', agentspec 25.4.1)\n"


def test_validate_invalid(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"INVALID {bad}: 1 reference(s) point at nothing: 'nowhere'")
    assert out.count("\n") == 1  # one line per file, however long


def test_validate_many_reports_each_and_fails_if_one_fails(
    good: Path, bad: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(good), str(bad), "/no/such/file.yaml"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"OK {good}")
    assert lines[1].startswith(f"INVALID {bad}:")
    assert lines[2] == "INVALID /no/such/file.yaml: file not found: /no/such/file.yaml"
    assert lines[3] == "1 valid, 2 invalid"


def test_validate_shows_warnings_under_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = small_flow()
    del doc["agentspec_version"]
    path = tmp_path / "noversion.json"
    path.write_text(json.dumps(doc))
    assert main(["validate", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"OK {path} (Flow 'echo_flow', agentspec 26.3.1, assumed)"
    assert lines[1] == f"  warning: {path} declares no agentspec_version; reading it as 26.3.1"


def test_validate_strict_refuses_lenient_files(
    shared_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = shared_dir / "conformance/docs_examples/howto_catchexception.json"
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK {path} (Flow 'catch_exception_flow', agentspec 26.1.0)")
    assert "  warning: " in out and "CatchExceptionNode needs 26.1.2" in out
    assert main(["validate", "--strict", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"INVALID {path}: ")
    assert "CatchExceptionNode needs 26.1.2" in out


def test_validate_with_registries(shared_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared_dir / "conformance/docs_examples"
    main_file = folder / "howto_disaggregated_main_config.yaml"
    registry = folder / "howto_disaggregated_component_config.yaml"
    assert main(["validate", str(main_file)]) == 1
    assert "'llm_config'" in capsys.readouterr().out
    assert main(["validate", str(main_file), "--registry", str(registry)]) == 0
    assert capsys.readouterr().out.startswith(f"OK {main_file} (Agent 'Weather Agent', agentspec 25.4.1)")


def test_validate_with_secret_values_from_a_registry_file(
    shared_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(yaml.safe_dump({"$referenced_components": {
        "oracle_tls_config_id.user": "scott",
        "oracle_tls_config_id.password": "tiger",
        "oracle_tls_config_id.dsn": "db:1522/svc",
    }}))
    datastore = shared_dir / "conformance/docs_examples/howto_oracle_datastore.json"
    assert main(["validate", str(datastore), "--registry", str(secrets)]) == 0
    assert capsys.readouterr().out.startswith(f"OK {datastore} (OracleDatabaseDatastore")


def test_validate_unreadable_registry_is_an_error_on_stderr(
    good: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(good), "--registry", str(good)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: cannot read the registry: ")
    assert "is not a disaggregated components document" in captured.err


def test_validate_example_and_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE), str(EXAMPLE.with_suffix(".yaml"))]) == 0
    out = capsys.readouterr().out
    assert "(Flow 'marketing_message_flow', agentspec 25.4.2)" in out
    assert out.endswith("2 valid, 0 invalid\n")


def test_output_is_plain_when_not_a_terminal(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["validate", str(bad)])
    captured = capsys.readouterr()
    assert "\x1b[" not in captured.out + captured.err


def test_messages_with_brackets_are_printed_verbatim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # rich markup must not eat "[at $...]" or "[bold]" in messages
    doc = small_flow()
    doc["$referenced_components"]["s"]["component_type"] = "[bold]Node"
    path = tmp_path / "markup.json"
    path.write_text(json.dumps(doc))
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "unknown component_type '[bold]Node'" in out
    assert "[at $['$referenced_components'].s]" in out


# -- convert --------------------------------------------------------------------------------


def test_convert_to_yaml_on_stdout(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(good), "--to", "yaml"]) == 0
    captured = capsys.readouterr()
    assert yaml.safe_load(captured.out) == loom.to_dict(loom.load(good))
    assert captured.err == ""


def test_convert_to_a_file_round_trips(good: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.yaml"
    assert main(["convert", str(good), "--to", "yaml", "-o", str(out)]) == 0
    back = tmp_path / "back.json"
    assert main(["convert", str(out), "--to", "json", "-o", str(back)]) == 0
    assert json.loads(back.read_text()) == loom.to_dict(loom.load(good))


def test_convert_keeps_secrets_out(with_secret: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(with_secret), "--to", "json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["api_key"] == {"$component_ref": "prod_llm.api_key"}
    assert "sk-live-123" not in captured.out + captured.err
    assert "note: 1 secret field(s) written as references (prod_llm.api_key)" in captured.err
    assert main(["convert", str(with_secret), "--to", "json", "--include-sensitive"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["api_key"] == "sk-live-123"
    assert captured.err == ""


def test_convert_at_a_chosen_version(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(good), "--to", "json", "--agentspec-version", "26.1.2"]) == 0
    assert json.loads(capsys.readouterr().out)["agentspec_version"] == "26.1.2"


def test_convert_invalid_input_is_one_message(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(bad), "--to", "json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: 1 reference(s) point at nothing")
    assert captured.err.count("\n") == 1
    assert "Traceback" not in captured.err


def test_convert_unwritable_output(good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing-dir" / "out.json"
    assert main(["convert", str(good), "--to", "json", "-o", str(target)]) == 1
    assert capsys.readouterr().err.startswith(f"error: cannot write {target}")


# -- usage ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [[], ["validate"], ["convert", "x.json"], ["convert", "x.json", "--to", "xml"], ["frobnicate"],
     ["validate", "--nope", "x.json"]],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "validate" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"loom {loom.__version__}"


def test_commands_are_modules_and_missing_ones_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "SUBCOMMANDS", ("validate", "not_written_yet", "convert"))
    parser = cli.build_parser()
    names = next(a for a in parser._actions if a.dest == "command").choices  # type: ignore[union-attr]
    assert list(names) == ["validate", "convert"]


def test_the_installed_command_exit_codes(good: Path, bad: Path) -> None:
    if not LOOM_BIN.exists():
        pytest.skip(f"{LOOM_BIN} is not installed")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(LOOM_BIN), *args], capture_output=True, text=True, timeout=60)

    ok = run("validate", str(good))
    assert (ok.returncode, ok.stdout) == (0, f"OK {good} (Flow 'echo_flow', agentspec 25.4.1)\n")
    invalid = run("validate", str(good), str(bad))
    assert invalid.returncode == 1
    assert "Traceback" not in invalid.stdout + invalid.stderr
    usage = run("validate")
    assert usage.returncode == 2
    assert "usage: loom validate" in usage.stderr


def test_errors_are_red_on_a_terminal(
    bad: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert main(["convert", str(bad), "--to", "json"]) == 1
    err = capsys.readouterr().err
    assert "\x1b[1;31merror: \x1b[0m1 reference(s) point at nothing" in err
