import pytest
from hypothesis import given
from hypothesis import strategies as st

from lafs_core.errors import CapabilityError
from lafs_core.uri import CHKReadCap, CHKVerifyCap, LiteralCap, is_canonical_cap, parse_cap

READ = (
    "URI:CHK:e6uhixvbm3g5amrzdzd3mnmsqm:"
    "4n5aafrb64sqpfnhcdpdfrk5gh2qznprjky6q6jybuuqy2q6z6mq:2:3:131073"
)
VERIFY = (
    "URI:CHK-Verifier:ztcn4ian46lek3nhd3phlzhmhm:"
    "4n5aafrb64sqpfnhcdpdfrk5gh2qznprjky6q6jybuuqy2q6z6mq:2:3:131073"
)


def test_read_cap_to_verify_cap() -> None:
    cap = parse_cap(READ)
    assert isinstance(cap, CHKReadCap)
    assert (cap.k, cap.n, cap.size) == (2, 3, 131073)
    assert cap.verify_cap().to_string() == VERIFY
    assert parse_cap(VERIFY) == cap.verify_cap()


def test_lit_examples() -> None:
    assert parse_cap("URI:LIT:") == LiteralCap(b"")
    assert LiteralCap(b"a" * 55).to_string() == "URI:LIT:" + "mfqwcylb" * 11


def test_tahoe_tolerances() -> None:
    assert parse_cap(READ + "\n") == parse_cap(READ)
    assert parse_cap("ro." + READ) == parse_cap(READ)
    assert parse_cap("imm." + READ) == parse_cap(READ)
    zeros = READ.replace(":2:3:", ":02:003:")
    assert parse_cap(zeros).to_string() == READ


def test_parsed_caps_print_their_canonical_text() -> None:
    for text in (READ, VERIFY, "URI:LIT:mfqwc", "ro." + READ + "\n"):
        cap = parse_cap(text)
        assert cap.to_string() == text.removeprefix("ro.").removesuffix("\n") == cap._format()
        assert cap.to_string() is cap.to_string()
    for odd in (":02:003:", ":\u0662:3:"):  # leading zeros, a non-ASCII digit
        assert parse_cap(READ.replace(":2:3:", odd)).to_string() == READ
    assert parse_cap(READ.replace(":131073", ":0131073")).to_string() == READ
    assert parse_cap(READ.replace(":131073", ":0")).to_string() == READ.replace(":131073", ":0")
    made = CHKReadCap(b"k" * 16, b"h" * 32, 1, 2, 3)
    assert made.to_string() == made._format() and parse_cap(made.to_string()) == made


keys16 = st.binary(min_size=16, max_size=16)
hashes32 = st.binary(min_size=32, max_size=32)
kn = st.integers(1, 256).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n)))


@given(keys16, hashes32, kn, st.integers(56, 2**64))
def test_chk_round_trips(key: bytes, h: bytes, k_n: tuple[int, int], size: int) -> None:
    cap = CHKReadCap(key, h, k_n[0], k_n[1], size)
    assert parse_cap(cap.to_string()) == cap
    verify = cap.verify_cap()
    assert parse_cap(verify.to_string()) == verify
    assert isinstance(verify, CHKVerifyCap)


@given(st.binary(max_size=55))
def test_lit_round_trips(data: bytes) -> None:
    assert parse_cap(LiteralCap(data).to_string()) == LiteralCap(data)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "URI",
        "URI:",
        "http://example.com",
        "URI:CHK:",
        READ + "x",
        READ + ":7",
        READ.replace("e6uhix", "E6UHIX"),
        READ.replace("mnmsqm", "mnmsqn"),  # non-zero padding bits in the key
        READ.replace("z6mq:", "z6mr:"),  # non-zero padding bits in the UEB hash
        READ.replace(":2:3:", ":0:3:"),
        READ.replace(":2:3:", ":4:3:"),
        READ.replace(":2:3:", ":2:300:"),
        READ.replace(":2:3:", ":-2:3:"),
        VERIFY + "trailing",
        "URI:LIT:a",
        "URI:LIT:mfqwcylbm",
        "URI:LIT:b",
        "URI:SSK-Whatever:abc",
        "URI:CHK:yzxcoagbetwet65ltjpbqyli3m:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1",
    ],
)
def test_malformed_caps_are_refused_clearly(text: str) -> None:
    with pytest.raises(CapabilityError) as info:
        parse_cap(text)
    assert str(info.value)


@given(st.text(max_size=120))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        cap = parse_cap(text)
    except CapabilityError:
        return
    assert parse_cap(cap.to_string()) == cap
    assert cap.to_string() == cap._format()  # a kept text is the canonical one


@given(st.data())
def test_mutated_caps_parse_or_fail_cleanly(data: st.DataObject) -> None:
    pos = data.draw(st.integers(0, len(READ) - 1))
    char = data.draw(st.characters(codec="ascii"))
    text = READ[:pos] + char + READ[pos + 1 :]
    try:
        cap = parse_cap(text)
    except CapabilityError:
        return
    assert isinstance(cap, CHKReadCap)
    assert cap.to_string() == cap._format()


def _prints_back(text: str) -> bool:
    try:
        return parse_cap(text).to_string() == text
    except CapabilityError:
        return False


@pytest.mark.parametrize(
    "text",
    [
        READ,
        VERIFY,
        "URI:LIT:",
        "URI:LIT:mfqwc",
        "URI:LIT:mfqwd",  # non-zero padding bits
        READ + "\n",
        "ro." + READ,
        "imm.URI:LIT:mfqwc",
        READ.replace(":2:3:", ":02:3:"),
        READ.replace(":2:3:", ":\u0662:3:"),
        READ.replace(":2:3:", ":3:2:"),
        READ.replace(":2:3:", ":256:256:"),
        READ.replace(":2:3:", ":2:257:"),
        READ.replace(":131073", ":0"),
        READ.replace(":131073", ":00"),
        READ.replace(":131073", ":0131073"),
        READ.replace("mnmsqm", "mnmsqn"),
        READ[:-1],
        "URI:SSK-RO:abc",
    ],
)
def test_canonical_caps_are_those_that_print_back(text: str) -> None:
    assert is_canonical_cap(text) == _prints_back(text)


@given(st.data())
def test_canonical_check_agrees_with_parsing_mutated_caps(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from([READ, VERIFY, "URI:LIT:mfqwcylb"]))
    pos = data.draw(st.integers(0, len(base) - 1))
    text = base[:pos] + data.draw(st.characters(codec="utf-8")) + base[pos + 1 :]
    assert is_canonical_cap(text) == _prints_back(text)
