-- title: Referrals in the year by source
-- definition: >
--   Referrals with a referral date in the census year, by who made the referral (ReferralSource, grouped as
--   the DfE tables group it), with the number that led to no further action. Same counting rules as
--   referrals_in_year (a child's referrals on the same day count once; the source of the lowest episode id).
-- source: >
--   DfE, Children in need census 2024 to 2025 guide, ReferralSource (N00152); DfE statistics
--   "Children in need", referrals by source.
-- unit: count of referrals
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [referral_source, age_band, team]
-- columns:
--   - {name: referral_source, kind: dimension, label: Source of referral}
--   - {name: age_band, kind: dimension, label: Age at referral}
--   - {name: team, kind: dimension, label: Team}
--   - {name: referrals, kind: count, label: Referrals}
--   - {name: nfa_referrals, kind: count, label: Referrals with no further action}
--   - {name: pct_nfa, kind: percentage, numerator: nfa_referrals, denominator: referrals, label: "% NFA"}
WITH base AS (
    -- the year's referrals with their source and groupings worked out at build time (derived.sql, `referral`)
    SELECT child_id, nfa, referral_source_group(source_code) AS source_v, age_band AS age_band_v, team AS team_v
    FROM referral
    WHERE census_year = $census_year
),
fine AS (
    SELECT source_v, age_band_v, team_v,
           count(*) AS n,
           count(*) FILTER (WHERE nfa) AS f0
    FROM base
    GROUP BY ALL
)
-- The cube is rolled up from the finest cells (one aggregation over base) joined with the grouping masks,
-- instead of GROUP BY CUBE's one aggregation over base per grouping set; counts add up, so every cell and
-- margin is the same (macros.sql, "cubes from pre-aggregates").
SELECT cube_label(m.g, 0, f.source_v) AS referral_source,
       cube_label(m.g, 1, f.age_band_v) AS age_band,
       cube_label(m.g, 2, f.team_v) AS team,
       CAST(coalesce(sum(f.n), 0) AS BIGINT) AS referrals,
       CAST(coalesce(sum(f.f0), 0) AS BIGINT) AS nfa_referrals,
       round(100.0 * CAST(coalesce(sum(f.f0), 0) AS BIGINT) / CAST(coalesce(sum(f.n), 0) AS BIGINT), 1) AS pct_nfa
FROM cube_masks(3) m LEFT JOIN fine f ON TRUE
WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
GROUP BY m.g, referral_source, age_band, team
ORDER BY ALL
