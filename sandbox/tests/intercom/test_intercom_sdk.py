"""The official python-intercom 5.0.1 SDK, unchanged, against the sandbox (it sends no Intercom-Version)."""

from __future__ import annotations

from intercom import Intercom
from intercom.types import CreateContactRequestWithEmail
from intercom_sandbox_testkit import TOKEN, Sandbox


def test_sdk_contacts_companies_conversations(sandbox: Sandbox) -> None:
    client = Intercom(token=TOKEN, base_url=sandbox.url, timeout=30)
    created = [
        client.contacts.create(request=CreateContactRequestWithEmail(email=f"sdk{i}@example.com", name=f"SDK {i}"))
        for i in range(7)
    ]
    ids = {c.id for c in created}
    assert len(ids) == 7
    # SDK 5.0.1's search pager re-sends the first page's pagination (a Fern bug), so walk the cursor explicitly
    query = {"field": "email", "operator": "~", "value": "sdk"}
    found, after = [], None
    while True:
        paging = {"per_page": 3, **({"starting_after": after} if after else {})}
        page = client.contacts.search(query=query, pagination=paging)
        found += [c.id for c in page.items or []]
        nxt = page.response.pages.next if page.response.pages else None
        after = nxt.starting_after if nxt else None
        if not after:
            break
    assert sorted(found) == sorted(ids)
    assert {c.id for c in client.contacts.list(per_page=2)} == ids
    company = client.companies.create_or_update(request={"company_id": "SDK-1", "name": "SDK Co"})
    again = client.companies.create_or_update(request={"company_id": "SDK-1", "name": "SDK Co"})
    assert company.id == again.id
    attached = client.companies.attach_contact(contact_id=created[0].id, company_id=company.id)
    assert attached.user_count == 1
    assert [c.id for c in client.companies.list(per_page=5)] == [company.id]
    message = client.conversations.create(
        from_={"type": "user", "id": created[0].id}, body="Hello from the SDK", created_at=1_600_000_000
    )
    assert message.conversation_id
    conversations = list(client.conversations.list(per_page=5))
    assert [c.id for c in conversations] == [message.conversation_id]
    searched = client.conversations.search(query={"field": "id", "operator": "=", "value": message.conversation_id})
    assert [c.id for c in searched.items or []] == [message.conversation_id]
    conversation = client.conversations.find(conversation_id=message.conversation_id)
    assert conversation.created_at == 1_600_000_000


def test_sdk_wider_surface(sandbox: Sandbox) -> None:
    """Admins, tags, attributes, notes, scroll, tickets, custom objects and the help center through the SDK."""
    client = Intercom(token=TOKEN, base_url=sandbox.url, timeout=30)
    admin_id = client.admins.identify().id
    assert [a.id for a in client.admins.list().admins] == [admin_id, "991267460"]
    tag = client.tags.create(request={"name": "Hardware"})
    assert client.tags.create(request={"name": "HARDWARE"}).id == tag.id
    client.data_attributes.create(request={"name": "topdesk_id", "model": "contact", "data_type": "string"})
    contact = client.contacts.create(
        request={"email": "wide@example.com", "external_id": "P-1", "custom_attributes": {"topdesk_id": "1"}}
    )
    assert client.notes.create(contact_id=contact.id, body="hi", admin_id=admin_id).body == "<p>hi</p>"
    assert [n.body for n in client.notes.list(contact_id=contact.id)] == ["<p>hi</p>"]
    company = client.companies.create_or_update(request={"company_id": "C1", "name": "C"})
    client.companies.attach_contact(contact_id=contact.id, company_id=company.id)
    assert [c.id for c in client.companies.scroll()] == [company.id]
    ticket_type = client.ticket_types.create(request={"name": "TOPdesk Call"})
    client.ticket_types.attributes.create(
        ticket_type_id=ticket_type.id, name="call_number", description="TOPdesk call number", data_type="string"
    )
    ticket = client.tickets.create(
        ticket_type_id=ticket_type.id, contacts=[{"id": contact.id}], created_at=1_600_000_000
    )
    assert client.tickets.get(ticket_id=ticket.id).created_at == 1_600_000_000
    reply = client.tickets.reply(
        ticket_id=ticket.id, request={"message_type": "note", "type": "admin", "admin_id": admin_id, "body": "x"}
    )
    assert reply.part_type == "note"
    message = client.conversations.create(from_={"type": "user", "id": contact.id}, body="x")
    conversation = client.conversations.reply(
        conversation_id=message.conversation_id,
        request={"message_type": "note", "type": "admin", "admin_id": admin_id, "body": "n"},
    )
    assert conversation.conversation_parts.conversation_parts[-1].part_type == "note"
    closed = client.conversations.manage(
        conversation_id=message.conversation_id,
        request={"message_type": "close", "type": "admin", "admin_id": admin_id},
    )
    assert closed.state == "closed"
    instance = client.custom_object_instances.create_custom_object_instances(
        custom_object_type_identifier="Asset", external_id="A1", custom_attributes={"name": "Laptop"}
    )
    found = client.custom_object_instances.get_custom_object_instances_by_external_id(
        custom_object_type_identifier="Asset", external_id="A1"
    )
    assert found.id == instance.id
    collection = client.help_centers.collections.create(name="KB")
    client.articles.create(request={"title": "T", "author_id": int(admin_id), "state": "published"})
    assert [a.title for a in client.articles.list()] == ["T"]
    assert [c.id for c in client.help_centers.collections.list()] == [collection.id]
    assert len(list(client.help_centers.list())) == 1
