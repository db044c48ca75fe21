"""The read-test-write body written in pieces is the CBOR cbor2 makes of the request's map."""

import cbor2
from hypothesis import given, settings
from hypothesis import strategies as st

from lafs_core import storage_protocol as sp

INTS = st.one_of(
    st.sampled_from([0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1]),
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
)
DATA = st.one_of(st.binary(max_size=300), st.sampled_from([bytes(70_000), bytes(65_536)]))
REQUESTS = st.builds(
    sp.ReadTestWriteRequest,
    st.dictionaries(
        st.integers(min_value=0, max_value=300),
        st.builds(
            sp.TestWriteVectors,
            st.lists(st.builds(sp.TestVector, INTS, INTS, DATA), max_size=3).map(tuple),
            st.lists(st.builds(sp.WriteVector, INTS, DATA), max_size=3).map(tuple),
            st.one_of(st.none(), INTS),
        ),
        max_size=4,
    ),
    st.lists(st.builds(sp.ReadVector, INTS, INTS), max_size=3).map(tuple),
)


def as_map(r: sp.ReadTestWriteRequest) -> bytes:
    """The request as the map the protocol describes, encoded by cbor2 (the reference)."""
    vectors = {
        n: {
            "test": [{"offset": t.offset, "size": t.size, "specimen": t.specimen} for t in v.test],
            "write": [{"offset": w.offset, "data": w.data} for w in v.write],
            "new-length": v.new_length,
        }
        for n, v in r.test_write_vectors.items()
    }
    reads = [{"offset": rv.offset, "size": rv.size} for rv in r.read_vector]
    return cbor2.dumps({"test-write-vectors": vectors, "read-vector": reads})


@settings(max_examples=300)
@given(REQUESTS)
def test_parts_join_to_cbor2s_encoding(r: sp.ReadTestWriteRequest) -> None:
    assert sp.encode_rtw_request(r) == as_map(r)


def test_long_write_data_is_its_own_part_not_a_copy() -> None:
    share = bytes(range(256)) * 400
    r = sp.ReadTestWriteRequest(
        {3: sp.TestWriteVectors((sp.TestVector(0, 1, b""),), (sp.WriteVector(0, share),))},
        (sp.ReadVector(0, 57),),
    )
    parts = sp.rtw_request_parts(r)
    assert any(p is share for p in parts)
    assert sp.decode_rtw_request(b"".join(parts)) == r
