-- title: Referrals in the year
-- definition: >
--   Referrals (CIN episodes) with a referral date in the census year (1 April to 31 March), including those
--   that led to no further action (NFA), with the NFA count and share. A child referred twice on the same day
--   is one referral (duplicate rows for the same child and referral date count once; it is NFA only if every
--   copy is). Age band at the referral date; team allocated on the referral date.
-- source: >
--   DfE, Children in need census 2024 to 2025 guide (CINreferralDate N00100, ReferralNFA N00112);
--   DfE statistics "Children in need", referrals and referrals resulting in no further action.
-- unit: count of referrals
-- shape: aggregate
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
--   - {name: nfa_referrals, kind: count, label: Referrals with no further action}
--   - {name: pct_nfa, kind: percentage, numerator: nfa_referrals, denominator: referrals, label: "% NFA"}
--   - {name: children, kind: count, label: Children referred}
WITH base AS (
    -- the year's referrals with their groupings, worked out at build time (derived.sql, `referral`)
    SELECT child_id, nfa,
           age_band AS age_band_v, sex AS sex_v, ethnicity_group AS ethnicity_v, disability AS disability_v,
           team AS team_v, first_in_year, first_age_band, first_team, first_age_band_team
    FROM referral
    WHERE census_year = $census_year
),
-- The cube is built from small pre-aggregates instead of GROUP BY CUBE over every referral (32 grouping sets,
-- twice over with count(DISTINCT)): referral counts add up, so they are summed from the finest cells. Children do
-- not add up across referrals; but sex, ethnicity and disability are one value per child and only age band and
-- team vary between a child's referrals in the year, so a cell keeping both counts each child's first referral
-- per (age band, team), one keeping only age band counts its first per age band, one keeping only team its first
-- per team, one keeping neither its first of the year (flags worked out at build time, derived.sql `referral`).
-- Cell values and margins are exactly those of GROUP BY CUBE.
fine AS (
    SELECT age_band_v, sex_v, ethnicity_v, disability_v, team_v,
           count(*) AS n, count(*) FILTER (WHERE nfa) AS n_nfa,
           count(*) FILTER (WHERE first_age_band_team) AS k3,
           count(*) FILTER (WHERE first_age_band) AS k2,
           count(*) FILTER (WHERE first_team) AS k1,
           count(*) FILTER (WHERE first_in_year) AS k0
    FROM base
    GROUP BY ALL
),
cells AS (
    SELECT m.g, cube_label(m.g, 0, f.age_band_v) AS age_band, cube_label(m.g, 1, f.sex_v) AS sex,
           cube_label(m.g, 2, f.ethnicity_v) AS ethnicity_group, cube_label(m.g, 3, f.disability_v) AS disability,
           cube_label(m.g, 4, f.team_v) AS team,
           CAST(coalesce(sum(f.n), 0) AS BIGINT) AS referrals,
           CAST(coalesce(sum(f.n_nfa), 0) AS BIGINT) AS nfa_referrals,
           CAST(coalesce(sum(CASE 2 * cube_keeps(m.g, 0) + cube_keeps(m.g, 4)
                                  WHEN 3 THEN f.k3 WHEN 2 THEN f.k2 WHEN 1 THEN f.k1 ELSE f.k0 END), 0)
                AS BIGINT) AS children
    FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
    WHERE m.g = 0 OR f.n IS NOT NULL  -- no referrals at all: the grand total alone, zero (as CUBE gives)
    GROUP BY ALL
)
SELECT age_band, sex, ethnicity_group, disability, team, referrals, nfa_referrals,
       round(100.0 * nfa_referrals / referrals, 1) AS pct_nfa,
       children
FROM cells
ORDER BY ALL
