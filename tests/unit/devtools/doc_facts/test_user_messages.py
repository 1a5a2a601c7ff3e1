from devtools.doc_facts.user_messages import fixed_parts, occurs, strings


def test_placeholders_match_what_the_code_fills_in_and_nothing_else_is_loose():
    assert fixed_parts("Secret <name> named in <field> is x") == ["Secret ", " named in ", " is x"]
    # f"Secret {name} named in {field} is not labelled {ALLOW_REFERENCE_LABEL}=true …", the constant filled in
    assert occurs("Secret <name> named in <field> is not labelled streaming.streamops.dev/allow-reference=true")
    assert not occurs("Secret <name> named in <field> is not labeled streaming.streamops.dev/allow-reference=true")
    assert not occurs("spec.ingest.service.type LoadBalancer is not permitted")


def test_charts_files_count_too():
    # The chart's NOTES.txt and values.yaml are what a user reads after helm install.
    assert any("allowLoadBalancer: false" in s for s in strings())
