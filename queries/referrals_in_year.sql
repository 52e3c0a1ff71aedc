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
WITH r AS (
    SELECT child_id, referral_date, bool_and(referral_nfa) AS nfa
    FROM cin_episode
    WHERE in_census_year(referral_date, $census_year)
    GROUP BY child_id, referral_date
),
rt AS (
    SELECT r.child_id, r.referral_date, arg_max(a.team_id, alloc_rank(a.start_date, a.team_id)) AS team
    FROM r JOIN allocation a ON a.child_id = r.child_id AND open_at(a.start_date, a.end_date, r.referral_date)
    -- only allocations overlapping the year can be open on a referral date in it: filtered at the scan
    WHERE a.start_date <= census_end($census_year)
      AND (a.end_date IS NULL OR a.end_date > census_start($census_year))
    GROUP BY r.child_id, r.referral_date
),
base AS (
    SELECT r.child_id, r.nfa,
           child_age_band(c.dob, c.expected_dob, r.referral_date) AS age_band_v,
           sex_label(c.sex) AS sex_v,
           ethnicity_label(c.ethnicity_group) AS ethnicity_v,
           disability_label(c.is_disabled) AS disability_v,
           coalesce(rt.team, 'Unallocated') AS team_v
    FROM r
    LEFT JOIN child c USING (child_id)
    LEFT JOIN rt USING (child_id, referral_date)
),
-- The cube is built from small pre-aggregates instead of GROUP BY CUBE over every referral (32 grouping sets,
-- twice over with count(DISTINCT)): referral counts add up, so they are summed from the finest cells; children
-- do not add up across referrals, so each child is counted once per cell from four de-duplicated sets. Sex,
-- ethnicity and disability are one value per child; only age band and team vary between a child's referrals,
-- so a cell keeping both counts distinct (child, age band, team), one keeping only age band distinct
-- (child, age band), and so on. Cell values and margins are exactly those of GROUP BY CUBE.
fine AS (
    SELECT age_band_v, sex_v, ethnicity_v, disability_v, team_v,
           count(*) AS n, count(*) FILTER (WHERE nfa) AS n_nfa
    FROM base GROUP BY ALL
),
kid_fine AS (
    SELECT 3 AS lvl, age_band_v, sex_v, ethnicity_v, disability_v, team_v, count(*) AS k
    FROM (SELECT DISTINCT child_id, age_band_v, sex_v, ethnicity_v, disability_v, team_v FROM base) GROUP BY ALL
    UNION ALL
    SELECT 2, age_band_v, sex_v, ethnicity_v, disability_v, NULL, count(*)
    FROM (SELECT DISTINCT child_id, age_band_v, sex_v, ethnicity_v, disability_v FROM base) GROUP BY ALL
    UNION ALL
    SELECT 1, NULL, sex_v, ethnicity_v, disability_v, team_v, count(*)
    FROM (SELECT DISTINCT child_id, sex_v, ethnicity_v, disability_v, team_v FROM base) GROUP BY ALL
    UNION ALL
    SELECT 0, NULL, sex_v, ethnicity_v, disability_v, NULL, count(*)
    FROM (SELECT DISTINCT child_id, sex_v, ethnicity_v, disability_v FROM base) GROUP BY ALL
),
cells AS (
    SELECT m.g, cube_label(m.g, 0, f.age_band_v) AS age_band, cube_label(m.g, 1, f.sex_v) AS sex,
           cube_label(m.g, 2, f.ethnicity_v) AS ethnicity_group, cube_label(m.g, 3, f.disability_v) AS disability,
           cube_label(m.g, 4, f.team_v) AS team,
           CAST(coalesce(sum(f.n), 0) AS BIGINT) AS referrals,
           CAST(coalesce(sum(f.n_nfa), 0) AS BIGINT) AS nfa_referrals
    FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
    WHERE m.g = 0 OR f.n IS NOT NULL  -- no referrals at all: the grand total alone, zero (as CUBE gives)
    GROUP BY ALL
),
kids AS (
    SELECT m.g, cube_label(m.g, 0, f.age_band_v) AS age_band, cube_label(m.g, 1, f.sex_v) AS sex,
           cube_label(m.g, 2, f.ethnicity_v) AS ethnicity_group, cube_label(m.g, 3, f.disability_v) AS disability,
           cube_label(m.g, 4, f.team_v) AS team,
           CAST(coalesce(sum(f.k), 0) AS BIGINT) AS children
    FROM cube_masks(5) m LEFT JOIN kid_fine f ON f.lvl = 2 * cube_keeps(m.g, 0) + cube_keeps(m.g, 4)
    WHERE m.g = 0 OR f.k IS NOT NULL
    GROUP BY ALL
)
SELECT age_band, sex, ethnicity_group, disability, team, referrals, nfa_referrals,
       round(100.0 * nfa_referrals / referrals, 1) AS pct_nfa,
       children
FROM cells JOIN kids USING (g, age_band, sex, ethnicity_group, disability, team)
ORDER BY ALL
