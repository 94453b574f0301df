"""The real-file hosts' definitions (lab/realfiles_hosts.py), checked without a lab: runnable
stacks, outcomes the domain facts decide, sources at a commit named in every file, and files the
managers' own parsers accept."""
from __future__ import annotations

from lab import realfiles, realfiles_hosts, variety


def test_real_file_hosts_are_sound_and_name_their_sources():
    """Each definition: a runnable stack, the outcome the domain facts decide, a source at a commit,
    and every file it writes names that source."""
    specs = realfiles_hosts.specs()
    assert len(specs) >= 20 and len({s.real for s in specs}) == len(specs)
    for spec in specs:
        host = spec.definition
        assert not realfiles.check(host), realfiles.check(host)
        files = host.render(spec, "pw")
        for path, text in {**files.app, **files.host}.items():
            if text and not path.endswith((".keep", ".py", ".dockerignore")):
                assert host.source.url in text, (spec.real, path)



def test_the_family_joins_the_varied_profiles_without_renaming_the_var_hosts():
    plain = [s.name for s in variety.fleet("covering+42")]
    joined = variety.fleet("covering+realfiles+42")
    assert [s.name for s in joined if not getattr(s, "real", "")] == plain
    real = [s for s in joined if getattr(s, "real", "")]
    assert [s.name for s in real] == [f"real{i}" for i in range(1, len(real) + 1)]
    assert len({s.address for s in joined}) == len(joined)
    assert [s.name for s in variety.fleet("covering+realfiles+42@real2,var3")] == ["var3", "real2"] or \
        [s.name for s in variety.fleet("covering+realfiles+42@real2,var3")] == ["real2", "var3"]
    assert variety.from_json(variety.as_json(real[0])) == real[0]


def test_every_known_gap_names_a_defined_host():
    from lab import realfiles_hosts

    assert set(realfiles_hosts.GAPS) | set(realfiles_hosts.FAST_GAPS) <= set(realfiles_hosts.HOSTS)
