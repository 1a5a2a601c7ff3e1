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


def test_a_function_returning_an_fstring_is_expanded_where_a_message_calls_it():
    # f"{field} {path} is outside {namespace_prefix(namespace)} (…": namespace_prefix returns f"/streams/{namespace}/"
    assert occurs("<field> <path> is outside /streams/<namespace>/ (the operator serves a namespace's streams")
    assert not occurs("<field> <path> is outside /stream/<namespace>/ (the operator serves a namespace's streams")


def test_a_placeholder_does_not_reach_across_lines():
    assert occurs("<x>inside the cluster only")
    assert occurs("allowLoadBalancer: false") and occurs("allowNodePort: false")
    assert not occurs("allowLoadBalancer: false <anything> allowNodePort: false")  # two lines of values.yaml
