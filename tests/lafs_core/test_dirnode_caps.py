"""Directory caps print the text they were parsed from only when it is the canonical one."""

import json
from pathlib import Path

from lafs_core.dirnode.caps import DirectoryCap, parse_any_cap, parse_dir_cap

D = json.loads((Path(__file__).parent.parent / "vectors" / "ssk.json").read_text())["dirnode"]
CHK = "yzxcoagbetwet65ltjpbqyli3m:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:3:10:56"


def test_canonical_text_is_kept() -> None:
    for text in (D["dir_write"], D["dir_read"], D["immutable_dircap"], "URI:DIR2-CHK:" + CHK):
        cap = parse_dir_cap(text)
        assert cap.to_string() == text == cap._format()
        assert parse_any_cap(text).to_string() == text


def test_other_spellings_print_canonically() -> None:
    mdmf = D["dir_write"].replace("URI:DIR2:", "URI:DIR2-MDMF:")
    assert parse_dir_cap(mdmf + ":3:131073").to_string() == mdmf  # extension fields dropped
    chk = "URI:DIR2-CHK:" + CHK
    assert parse_dir_cap(chk.replace(":3:10:", ":03:10:")).to_string() == chk
    assert parse_dir_cap(chk + "\n").to_string() == chk


def test_derived_caps_print_their_own_text() -> None:
    cap = parse_dir_cap(D["dir_write"])
    assert cap.readonly().to_string() == D["dir_read"]
    assert DirectoryCap(cap.inner).to_string() == D["dir_write"]
