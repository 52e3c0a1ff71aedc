-- title: Children who started to be looked after in the year
-- definition: >
--   903 episodes with reason for new episode S (started to be looked after) and a start date in the census
--   year, leaving out V3/V4 short breaks, and the distinct children who started. Duplicate rows (same child and
--   start date) count once. Legal status and placement of the starting episode; age band at the start; team
--   allocated on the start date.
-- source: >
--   DfE, SSDA903 children looked after return 2024 to 2025 guide (RNE = S); DfE statistics "Children
--   looked after in England including adoptions", children who started to be looked after during the year.
-- unit: count of periods of care
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [legal_status, age_band, sex, ethnicity_group, team]
-- columns:
--   - {name: legal_status, kind: dimension, label: Legal status on starting}
--   - {name: age_band, kind: dimension, label: Age on starting}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: team, kind: dimension, label: Team}
--   - {name: started, kind: count, label: Started to be looked after}
--   - {name: children, kind: count, label: Children who started}
WITH s AS (
    SELECT child_id, decom, arg_min(ls, episode_id) AS ls
    FROM episode
    WHERE rne = 'S' AND NOT is_short_break(ls) AND in_census_year(decom, $census_year)
    GROUP BY child_id, decom
),
base AS (
    SELECT s.child_id,
           legal_status_group(s.ls) AS ls_v,
           cd.age_band AS age_band_v,
           cd.sex AS sex_v,
           cd.ethnicity_group AS ethnicity_v,
           cd.team AS team_v
    FROM s
    -- the child's age band, labels and team on the event date, worked out at build time
    -- (derived.sql, `child_day`)
    LEFT JOIN child_day cd
      ON cd.child_id = s.child_id AND cd.d = s.decom AND cd.census_year = $census_year
),
kc AS (
    SELECT *, count(*) OVER (PARTITION BY child_id) AS combos
    FROM (SELECT DISTINCT child_id, ls_v, age_band_v, sex_v, ethnicity_v, team_v FROM base)
),
fine AS (
    SELECT ls_v, age_band_v, sex_v, ethnicity_v, team_v,
           count(*) AS n, 0 AS k1
    FROM base
    GROUP BY ALL
    UNION ALL
    SELECT ls_v, age_band_v, sex_v, ethnicity_v, team_v, 0, count(*)
    FROM kc WHERE combos = 1
    GROUP BY ALL
),
cells AS (
    SELECT m.g,
           cube_label(m.g, 0, f.ls_v) AS legal_status,
           cube_label(m.g, 1, f.age_band_v) AS age_band,
           cube_label(m.g, 2, f.sex_v) AS sex,
           cube_label(m.g, 3, f.ethnicity_v) AS ethnicity_group,
           cube_label(m.g, 4, f.team_v) AS team,
           CAST(coalesce(sum(f.n), 0) AS BIGINT) AS n,
           CAST(coalesce(sum(f.k1), 0) AS BIGINT) AS k1
    FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
    WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
    GROUP BY m.g, legal_status, age_band, sex, ethnicity_group, team
),
multi AS (
    SELECT m.g,
           cube_label(m.g, 0, kc.ls_v) AS legal_status,
           cube_label(m.g, 1, kc.age_band_v) AS age_band,
           cube_label(m.g, 2, kc.sex_v) AS sex,
           cube_label(m.g, 3, kc.ethnicity_v) AS ethnicity_group,
           cube_label(m.g, 4, kc.team_v) AS team,
           count(DISTINCT kc.child_id) AS k2
    FROM kc CROSS JOIN cube_masks(5) m
    WHERE kc.combos > 1
    GROUP BY m.g, legal_status, age_band, sex, ethnicity_group, team
)
-- The cube is rolled up from the finest cells (one aggregation over base) joined with the grouping masks,
-- instead of GROUP BY CUBE's aggregations over base per grouping set (macros.sql, "cubes from pre-aggregates").
-- Event counts add up. Children do not, so they are counted apart: a child whose events all fall in one
-- finest cell counts once in each cell above it (additive, summed like the events); only the few children
-- spread over several cells are counted with DISTINCT per cell. The two groups are disjoint, so their sum is
-- exactly count(DISTINCT child_id) of GROUP BY CUBE.
SELECT c.legal_status, c.age_band, c.sex, c.ethnicity_group, c.team,
       c.n AS started,
       CAST(c.k1 + coalesce(mk.k2, 0) AS BIGINT) AS children
FROM cells c LEFT JOIN multi mk USING (g, legal_status, age_band, sex, ethnicity_group, team)
ORDER BY ALL
