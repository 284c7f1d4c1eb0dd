"""Which BagIt profile a bag is checked against, decided once its bag-info.txt is read. Pure data.

The operator names one (`explicit`: the CLI's --profile, a state machine input's `profile`) and every
bag is checked against it; or the bag names one in `BagIt-Profile-Identifier`, matched against the
`catalog` (the profiles under the deployment's ProfilesLocation, by identifier). A bag naming none
found there gets a warning (`profile_unknown`), or with `required` an *error* (`profile_not_found`):
the verdict could not be the one the operator asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bagverify.bag.profile import IDENTIFIER_TAG, Profile, ProfileInvalid
from bagverify.verdict import Kind, Problem


@dataclass(frozen=True)
class ProfileChoice:
    explicit: Profile | None = None
    catalog: dict[str, Profile | ProfileInvalid] = field(default_factory=dict)
    required: bool = False

    @property
    def active(self) -> bool:
        return self.explicit is not None or bool(self.catalog) or self.required

    def choose(self, bag_info: list[tuple[str, str]]) -> tuple[Profile | None, list[Problem], Problem | None]:
        """(the profile to check against, warnings, an error) for a bag whose bag-info.txt says `bag_info`."""
        if self.explicit is not None:
            return self.explicit, [], None
        named = [value.strip() for label, value in bag_info if label.lower() == IDENTIFIER_TAG.lower()]
        for identifier in named:
            found = self.catalog.get(identifier)
            if isinstance(found, ProfileInvalid):
                return None, [], Problem(Kind.PROFILE_INVALID, str(found), details={"profile": identifier})
            if found is not None:
                return found, [], None
        if not named and not self.required:
            return None, [], None
        what = f"names {', '.join(repr(n) for n in named)}" if named else "names no BagIt-Profile-Identifier"
        if self.required:
            return (
                None,
                [],
                Problem(
                    Kind.PROFILE_NOT_FOUND,
                    f"the bag {what}, and no profile of that identifier is among the deployment's profiles "
                    "(ProfilesLocation); profiles are required here (RequireProfile), so it is not verified "
                    "as asked",
                    details={"profiles": sorted(self.catalog)},
                ),
            )
        return (
            None,
            [
                Problem(
                    Kind.PROFILE_UNKNOWN,
                    f"the bag {what}, which is not among the deployment's profiles (ProfilesLocation): "
                    "checked as a bag, not against a profile",
                    "bag-info.txt",
                )
            ],
            None,
        )
