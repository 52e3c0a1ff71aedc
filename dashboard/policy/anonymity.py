"""k-anonymity of pseudonymised row-level releases, by local suppression of key variables.

A pseudonymised row carries no name or id, but a child can still be singled out by what an outsider knows
about them: month of birth, sex, ethnicity, where they live. The policy names those key variables and k
(access_policies/anonymity.yml). Every pseudonymised release (a named query's rows, the analyst's planning mart)
is made k-anonymous on them before it leaves the gate: the children are grouped by their combination of key
values; where a group holds fewer than k children, the first key variable in the policy's order is withheld
(null) for those children, the groups are formed again, and so on down the list. Only small groups lose
values, so every group of k or more is left exactly as it was.

What the result guarantees: every combination of key values that is shown belongs to at least k children of
the release, except children whose key values were ALL withheld (they share nothing an outsider could match).
A withheld value is shown as empty, never as a made-up value, and the answer says how many were withheld.

Why not pycanon (which privacy.md names for measuring k): it pins exact older versions of numpy, scipy and
typer, which would downgrade this product's own; k itself is one group-by, done here in Polars and checked by
the tests against counts worked out by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Anonymity:
    """The policy: k, and the key variables as (table, column), in the order they are withheld."""
    k: int
    key_variables: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Withheld:
    """What local suppression did to one release."""
    k: int
    keys: tuple[str, ...]          # the release's columns that are key variables, in withholding order
    values: int                    # key values withheld (cells set empty)
    children: int                  # children with at least one value withheld
    smallest_group: int            # children in the smallest group of shown key values afterwards

    def note(self) -> str:
        if not self.keys:
            return ""
        return (f"k-anonymity (k = {self.k}) on {', '.join(self.keys)}: {self.values} value(s) withheld for "
                f"{self.children} child(ren) in groups smaller than {self.k}")


def k_anonymise(df: pl.DataFrame, keys: Sequence[str], k: int, entity: str | None = None
                ) -> tuple[pl.DataFrame, Withheld]:
    """`df` with key values withheld until every group of shown key values holds at least k entities.

    `keys`: the columns of df that are key variables, in the order they are withheld. `entity`: the column that
    names the child (a pseudonym), so a child with several rows counts once and loses the same values on every
    row; without it each row is one child (a list with one row per child).
    """
    keys = [c for c in keys if c in df.columns]
    if not keys or df.height == 0:
        return df, Withheld(k, tuple(keys), 0, 0, _smallest(df, keys, entity, k))
    ent = entity if entity in df.columns else None
    work = df.with_columns(pl.int_range(pl.len()).alias("__row")) if ent is None else df
    who = ent or "__row"
    # one row per child with its key values; a child whose rows disagree (a date recorded twice differently)
    # takes the combination of its first row, and all its rows get the same withholding
    per = work.group_by(who, maintain_order=True).agg([pl.col(c).first() for c in keys])
    withheld = {c: pl.Series([False] * per.height) for c in keys}
    for c in keys:
        size = per.group_by(keys, maintain_order=True).agg(pl.len().alias("__n"))
        small = per.join(size, on=keys, how="left", nulls_equal=True)["__n"] < k
        if not small.any():
            break
        # Why only the small groups: a group of k or more already hides each of its children among k, so its
        # values stay; the small group's children lose this variable and are grouped again with the others
        withheld[c] = withheld[c] | (small & per[c].is_not_null())
        per = per.with_columns(pl.when(small).then(None).otherwise(pl.col(c)).alias(c))
    lost = pl.DataFrame({who: per[who], **{f"__w_{c}": withheld[c] for c in keys}})
    out = work.join(lost, on=who, how="left", maintain_order="left")
    out = out.with_columns([pl.when(pl.col(f"__w_{c}")).then(None).otherwise(pl.col(c)).alias(c) for c in keys])
    out = out.select(df.columns)
    n_values = int(sum(int(s.sum()) for s in withheld.values()))
    n_children = int(pl.DataFrame(withheld).select(pl.any_horizontal(pl.all())).to_series().sum())
    return out, Withheld(k, tuple(keys), n_values, n_children, _smallest(out, keys, entity, k))


def _smallest(df: pl.DataFrame, keys: Sequence[str], entity: str | None, k: int) -> int:
    """Children in the smallest group of shown key values (children with every key withheld left out)."""
    keys = [c for c in keys if c in df.columns]
    if not keys or df.height == 0:
        return 0
    ent = entity if entity in df.columns else None
    frame = df.select(([ent] if ent else []) + keys)
    frame = frame.filter(~pl.all_horizontal([pl.col(c).is_null() for c in keys]))
    if frame.height == 0:
        return 0
    if ent:
        frame = frame.group_by(ent, maintain_order=True).agg([pl.col(c).first() for c in keys])
    return int(frame.group_by(keys).agg(pl.len().alias("n"))["n"].min())


def k_anonymise_tables(frames: dict[str, pl.DataFrame], policy: Anonymity, entity: str = "child_id"
                       ) -> tuple[dict[str, pl.DataFrame], Withheld]:
    """Several tables of one release (the planning mart) whose key variables describe the same child: the child's
    key values are gathered from every table into one row (joined on `entity`), made k-anonymous together, and
    each withheld value is withheld in its own table on every row of that child.

    Why together: an outsider who can join the tables on the child's pseudonym sees all the child's key values at
    once, so k must hold on the combination, not table by table.
    """
    cols = [(t, c) for t, c in policy.key_variables if t in frames and c in frames[t].columns
            and entity in frames[t].columns]
    if not cols:
        return frames, Withheld(policy.k, (), 0, 0, 0)
    names = [f"{t}.{c}" for t, c in cols]
    per_child = None
    for t in dict.fromkeys(t for t, _ in cols):
        mine = [c for tt, c in cols if tt == t]
        part = (frames[t].filter(pl.col(entity).is_not_null()).group_by(entity, maintain_order=True)
                .agg([pl.col(c).first().alias(f"{t}.{c}") for c in mine]))
        per_child = part if per_child is None else per_child.join(part, on=entity, how="full", coalesce=True,
                                                                  maintain_order="left_right")
    assert per_child is not None
    done, report = k_anonymise(per_child, names, policy.k, entity)
    lost = done.select(entity, *[(pl.col(n).is_null() & per_child[n].is_not_null()).alias(n) for n in names])
    out = dict(frames)
    for t in dict.fromkeys(t for t, _ in cols):
        mine = [c for tt, c in cols if tt == t]
        mask = lost.select(entity, *[pl.col(f"{t}.{c}").alias(f"__w_{c}") for c in mine])
        joined = frames[t].join(mask, on=entity, how="left", maintain_order="left")
        out[t] = joined.with_columns([pl.when(pl.col(f"__w_{c}").fill_null(False)).then(None)
                                      .otherwise(pl.col(c)).alias(c) for c in mine]).select(frames[t].columns)
    return out, report
