"""shared/corpus/real: Nomad's own archive-layer test tars, read as plain tars.

Expected results are those of Nomad's tar-level ``read()`` as listed in the
corpus PROVENANCE.md and FORMAT-NOTES.md section 6. Their state.bin holds
Consul data, so only the archive layer (reject findings) is compared.
"""

from __future__ import annotations

import pytest

from snaptool.commands import verify

from .conftest import CORPUS_REAL, needs_shared

# file -> (accepted by read(), the Nomad error text expected among findings)
EXPECTED = {
    "nomad-corrupt-meta.tar": (False, 'hash check failed for "meta.json"'),
    "nomad-corrupt-sha.tar": (False, 'list missing hash for "nope"'),
    "nomad-corrupt-state.tar": (False, 'hash check failed for "state.bin"'),
    "nomad-empty.tar": (False, "file missing for"),
    "nomad-extra.tar": (False, 'unexpected file "nope" in snapshot'),
    "nomad-missing-meta.tar": (False, 'hash check failed for "meta.json"'),
    "nomad-missing-sha.tar": (False, "file missing for"),
    "nomad-missing-state.tar": (False, 'hash check failed for "state.bin"'),
    "nomad-spaces-meta.tar": (True, ""),
}


@needs_shared
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_tar(name: str) -> None:
    accepted, nomad_text = EXPECTED[name]
    report = verify(CORPUS_REAL / name, plain_tar=True)
    rejects = [f for f in report.findings if f.severity == "reject"]
    assert (not rejects) is accepted, [f.to_dict() for f in report.findings]
    if nomad_text:
        assert any(nomad_text in f.nomad for f in rejects), [f.nomad for f in rejects]


@needs_shared
def test_spaces_meta_gzipped_is_rejected(tmp_path) -> None:
    """FORMAT-NOTES 6: gzip the GNU-padded tar and Nomad finds 1536 unread bytes."""
    import gzip

    data = (CORPUS_REAL / "nomad-spaces-meta.tar").read_bytes()
    snap = tmp_path / "spaces.snap"
    snap.write_bytes(gzip.compress(data))
    report = verify(snap)
    assert [f.nomad for f in report.findings if f.code == "tar.unread-bytes"] == [
        "1536 unread uncompressed bytes remain"
    ]
