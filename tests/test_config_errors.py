"""Configuration errors name the file, the key and the line of the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import ConfigError
from agent.rulefile import load_rule_file
from agent.tomlfile import locate


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text(text)
    return path


def test_unknown_key_inside_inline_table_names_its_line(tmp_path: Path) -> None:
    """A typo inside ``time = { … }`` points at that line, not at the [[rule]] header."""
    path = write(tmp_path, '[source]\npaths = ["/x"]\n\n[[rule]]\nname = "a"\n'
                           'pattern = "x"\nstatus = "ok"\n\n[[rule]]\nname = "b"\n'
                           'pattern = "(?P<t>x)"\n'
                           'time = { field = "t", fromat = "x" }\nstatus = "ok"\n')
    with pytest.raises(ConfigError) as info:
        load_rule_file(path)
    assert (info.value.key, info.value.line) == ("rule[1].time.fromat", 12)


def test_status_of_wrong_type_explains_both_forms(tmp_path: Path) -> None:
    """``status = 5`` says a name or a table is expected."""
    path = write(tmp_path, '[source]\npaths = ["/x"]\n[[rule]]\nname = "a"\npattern = "x"\n'
                           'status = 5\n')
    with pytest.raises(ConfigError, match="status name"):
        load_rule_file(path)


def test_locate_fills_in_the_line_of_a_late_error(tmp_path: Path) -> None:
    """An error raised after parsing (no line yet) gets the key's line from its file."""
    path = write(tmp_path, '[source]\npaths = ["/x"]\n[[rule]]\nname = "a"\npattern = "x"\n'
                           'status = "ok"\n[rule.alert]\ncheck = "{oops"\n')
    late = ConfigError("bad template", file=str(path), key="rule[0].alert.check")
    assert locate(late).line == 8
