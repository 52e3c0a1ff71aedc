-- title: Re-referrals within 12 months
-- definition: >
--   Referrals in the census year for a child who had a previous referral in the 12 months before it (referral
--   date on or after the same calendar date a year earlier, and before this referral's date), as a share of
--   all referrals in the year. The look-back reads every census year in the warehouse, so a referral in April
--   finds one made the previous May. Previous referrals that ended in NFA count. A child's referrals on the
--   same day count once (so a same-day duplicate is not a re-referral).
-- source: >
--   DfE statistics "Children in need", methodology, re-referrals within 12 months of a previous
--   referral; Children in need census 2024 to 2025 guide (CINreferralDate N00100).
-- unit: percentage of referrals
-- shape: aggregate
-- england: {year: 2025, pct_re_referrals: 22.6}
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [age_band, sex, ethnicity_group, disability, team]
-- columns:
--   - {name: age_band, kind: dimension, label: Age at referral}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: disability, kind: dimension, label: Disability}
--   - {name: team, kind: dimension, label: Team}
--   - {name: referrals, kind: count, label: Referrals}
--   - {name: re_referrals, kind: count, label: Re-referrals within 12 months}
--   - {name: pct_re_referrals, kind: percentage, numerator: re_referrals, denominator: referrals, label: "% re-referrals"}
WITH base AS (
    -- the year's referrals, each with its re-referral flag and groupings worked out at build time
    -- (derived.sql, `referral`: another referral in the 12 months before, on any earlier date)
    SELECT child_id, is_re_referral AS is_re,
           age_band AS age_band_v, sex AS sex_v, ethnicity_group AS ethnicity_v, disability AS disability_v,
           team AS team_v
    FROM referral
    WHERE census_year = $census_year
),
fine AS (
    SELECT age_band_v, sex_v, ethnicity_v, disability_v, team_v,
           count(*) AS n,
           count(*) FILTER (WHERE is_re) AS f0
    FROM base
    GROUP BY ALL
)
-- The cube is rolled up from the finest cells (one aggregation over base) joined with the grouping masks,
-- instead of GROUP BY CUBE's one aggregation over base per grouping set; counts add up, so every cell and
-- margin is the same (macros.sql, "cubes from pre-aggregates").
SELECT cube_label(m.g, 0, f.age_band_v) AS age_band,
       cube_label(m.g, 1, f.sex_v) AS sex,
       cube_label(m.g, 2, f.ethnicity_v) AS ethnicity_group,
       cube_label(m.g, 3, f.disability_v) AS disability,
       cube_label(m.g, 4, f.team_v) AS team,
       CAST(coalesce(sum(f.n), 0) AS BIGINT) AS referrals,
       CAST(coalesce(sum(f.f0), 0) AS BIGINT) AS re_referrals,
       round(100.0 * CAST(coalesce(sum(f.f0), 0) AS BIGINT) / CAST(coalesce(sum(f.n), 0) AS BIGINT), 1) AS pct_re_referrals
FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
GROUP BY m.g, age_band, sex, ethnicity_group, disability, team
ORDER BY ALL
