"""How many of everything: record volumes and planted hard cases as formulas of the scale (= number of calls).

One place, so the generator README's table, the manifest and the tests agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    scale: int

    # --- volumes -------------------------------------------------------------------------------------
    @property
    def calls(self) -> int:
        return self.scale

    @property
    def persons(self) -> int:
        return max(40, self.scale // 3)

    @property
    def operators(self) -> int:
        return max(10, self.scale // 100 + 5)

    @property
    def operator_groups(self) -> int:
        return max(4, min(60, self.operators // 6))

    @property
    def branches(self) -> int:
        return max(4, self.scale // 250)

    @property
    def locations_per_branch(self) -> int:
        return 3

    @property
    def suppliers(self) -> int:
        return max(4, self.scale // 400)

    @property
    def changes(self) -> int:
        return max(6, self.scale // 10)

    @property
    def assets(self) -> int:
        return max(30, self.scale // 4)

    @property
    def om_series(self) -> int:
        return max(3, self.scale // 250)

    @property
    def om_activities(self) -> int:
        return max(12, self.scale // 20)

    @property
    def knowledge_items(self) -> int:
        return max(12, self.scale // 50)

    @property
    def reservations(self) -> int:
        return max(8, self.scale // 20)

    @property
    def problems(self) -> int:
        return max(4, self.scale // 100)

    @property
    def known_errors(self) -> int:
        return max(2, self.problems // 2)

    @property
    def events_actions(self) -> int:
        return max(6, min(400, self.scale // 100))

    @property
    def activity_templates(self) -> int:
        return max(4, min(200, self.scale // 200))

    # --- planted hard cases (exact counts) --------------------------------------------------------------
    @property
    def persons_without_email(self) -> int:
        return max(2, self.scale // 100)

    @property
    def email_case_pairs(self) -> int:
        return max(1, self.scale // 1000)

    @property
    def operators_without_email(self) -> int:
        return max(2, self.scale // 1000)

    @property
    def archived_calls(self) -> int:
        return max(3, self.scale // 50)

    @property
    def archived_persons(self) -> int:
        return max(2, self.scale // 100)

    @property
    def old_calls(self) -> int:
        """Calls whose whole life (creation .. last modification) lies more than 270 days before the anchor."""
        return 3 * self.scale // 4

    @property
    def html_memos(self) -> int:
        return max(2, self.scale // 200)

    @property
    def non_ascii_persons(self) -> int:
        return max(6, self.scale // 100)

    @property
    def big_attachments(self) -> int:
        return max(2, self.scale // 250)

    @property
    def empty_optional_fields_calls(self) -> int:
        return max(2, self.scale // 100)

    @property
    def unregistered_callers(self) -> int:
        return max(2, self.scale // 200)
