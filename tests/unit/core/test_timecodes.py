import pytest

from bot.core.timecodes import BadTime, check_range, format_timecode, parse_timecode


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("75", 75.0),
        ("75.5", 75.5),
        ("1:15", 75.0),
        ("1:15.5", 75.5),
        ("0", 0.0),
        (" 2:03 ", 123.0),
        ("1:02:03", 3723.0),
        ("0:05,5", 5.5),
    ],
)
def test_accepted_formats(text: str, seconds: float) -> None:
    assert parse_timecode(text, field="start") == seconds


@pytest.mark.parametrize("text", ["", "abc", "-5", "1:75", "1::2", "1:2:3:4", "5s", "nan", "1e3"])
def test_rejected_formats_name_the_field(text: str) -> None:
    with pytest.raises(BadTime, match="`end`"):
        parse_timecode(text, field="end")


def test_range_checks() -> None:
    check_range(10, 20, 30)
    check_range(10, 20, None)
    with pytest.raises(BadTime, match="must come before"):
        check_range(20, 10, None)
    with pytest.raises(BadTime, match="must come before"):
        check_range(5, 5, None)
    with pytest.raises(BadTime, match="past the end of the song, which is 0:30 long"):
        check_range(10, 31, 30)


def test_format_timecode() -> None:
    assert format_timecode(75.5) == "1:15.5"
    assert format_timecode(60) == "1:00"
