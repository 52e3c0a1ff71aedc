-- title: Missing and away from placement episodes
-- definition: >
--   Children with a missing (M) or away from placement without authorisation (A) episode starting in the
--   census year, and the number of such episodes. Duplicate rows (same child, type and start date) are one
--   episode. By type (the Total row counts each child once even if they had both types); age band at 31 March;
--   team allocated at 31 March.
-- source: >
--   DfE, SSDA903 2024 to 2025 guide (Missing: MISSING, MIS_START, MIS_END); DfE statistics "Children
--   looked after in England including adoptions", children who went missing or were away from placement.
-- unit: count of children
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [missing_type, age_band, sex, ethnicity_group, team]
-- columns:
--   - {name: missing_type, kind: dimension, label: Missing or away}
--   - {name: age_band, kind: dimension, label: Age at 31 March}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: team, kind: dimension, label: Team}
--   - {name: children, kind: count, label: Children}
--   - {name: episodes, kind: count, label: Episodes}
WITH m AS (
    SELECT DISTINCT child_id, missing_type, start_date
    FROM missing_episode
    WHERE in_census_year(start_date, $census_year)
),
-- team at 31 March: the child's team_spell open that day (derived.sql), for the children in scope
base AS (
    SELECT m.child_id,
           CASE m.missing_type WHEN 'M' THEN 'Missing' WHEN 'A' THEN 'Away from placement' ELSE 'Not known' END AS type_v,
           cd.age_band AS age_band_v,
           cd.sex AS sex_v,
           cd.ethnicity_group AS ethnicity_v,
           cd.team AS team_v
    FROM m
    -- the child's age band, labels and team on 31 March, worked out at build time (derived.sql, `child_day`)
    LEFT JOIN child_day cd
      ON cd.child_id = m.child_id AND cd.d = census_end($census_year) AND cd.census_year = $census_year
),
kc AS (
    SELECT *, count(*) OVER (PARTITION BY child_id) AS combos
    FROM (SELECT DISTINCT child_id, type_v, age_band_v, sex_v, ethnicity_v, team_v FROM base)
),
fine AS (
    SELECT type_v, age_band_v, sex_v, ethnicity_v, team_v,
           count(*) AS n, 0 AS k1
    FROM base
    GROUP BY ALL
    UNION ALL
    SELECT type_v, age_band_v, sex_v, ethnicity_v, team_v, 0, count(*)
    FROM kc WHERE combos = 1
    GROUP BY ALL
),
cells AS (
    SELECT m.g,
           cube_label(m.g, 0, f.type_v) AS missing_type,
           cube_label(m.g, 1, f.age_band_v) AS age_band,
           cube_label(m.g, 2, f.sex_v) AS sex,
           cube_label(m.g, 3, f.ethnicity_v) AS ethnicity_group,
           cube_label(m.g, 4, f.team_v) AS team,
           CAST(coalesce(sum(f.n), 0) AS BIGINT) AS n,
           CAST(coalesce(sum(f.k1), 0) AS BIGINT) AS k1
    FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
    WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
    GROUP BY m.g, missing_type, age_band, sex, ethnicity_group, team
),
multi AS (
    SELECT m.g,
           cube_label(m.g, 0, kc.type_v) AS missing_type,
           cube_label(m.g, 1, kc.age_band_v) AS age_band,
           cube_label(m.g, 2, kc.sex_v) AS sex,
           cube_label(m.g, 3, kc.ethnicity_v) AS ethnicity_group,
           cube_label(m.g, 4, kc.team_v) AS team,
           count(DISTINCT kc.child_id) AS k2
    FROM kc CROSS JOIN cube_masks(5) m
    WHERE kc.combos > 1
    GROUP BY m.g, missing_type, age_band, sex, ethnicity_group, team
)
-- The cube is rolled up from the finest cells (one aggregation over base) joined with the grouping masks,
-- instead of GROUP BY CUBE's aggregations over base per grouping set (macros.sql, "cubes from pre-aggregates").
-- Event counts add up. Children do not, so they are counted apart: a child whose events all fall in one
-- finest cell counts once in each cell above it (additive, summed like the events); only the few children
-- spread over several cells are counted with DISTINCT per cell. The two groups are disjoint, so their sum is
-- exactly count(DISTINCT child_id) of GROUP BY CUBE.
SELECT c.missing_type, c.age_band, c.sex, c.ethnicity_group, c.team,
       CAST(c.k1 + coalesce(mk.k2, 0) AS BIGINT) AS children,
       c.n AS episodes
FROM cells c LEFT JOIN multi mk USING (g, missing_type, age_band, sex, ethnicity_group, team)
ORDER BY ALL
