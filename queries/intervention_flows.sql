-- title: Flows between interventions
-- definition: >
--   What followed the referrals made in the census year, as links between stages for a Sankey diagram: each
--   row is a link (source stage -> target stage) with the distinct children whose referral (CIN episode) took
--   it. Referral -> No further action (referral marked NFA) / Assessment / Section 47 (no assessment recorded) /
--   Awaiting or no assessment; Assessment -> Section 47 / CIN plan (no S47) / No further action (no S47 and no
--   plan); Section 47 -> CP plan / CIN plan (no CP plan) / No further action (neither); CP plan or CIN plan
--   -> Looked after (the child started to be looked after, RNE S, V3/V4 left out, between the referral and
--   31 March). Stages belong to the same CIN episode, whenever in or after the year they happened. Rows with
--   source and target both not 'Total' are the links; the margins count distinct children leaving a stage
--   (target Total) or entering one (source Total); Total/Total is the children referred in the year.
-- source: >
--   DfE, Children in need census 2024 to 2025 guide (CIN episode modules: referral, assessment, S47,
--   CIN plan, CP plan); SSDA903 2024 to 2025 guide (RNE S).
-- unit: count of children
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [source, target, team]
-- columns:
--   - {name: source, kind: dimension, label: From}
--   - {name: target, kind: dimension, label: To}
--   - {name: team, kind: dimension, label: Team at referral}
--   - {name: children, kind: count, label: Children}
WITH f AS (
    -- the year's CIN episodes with where each referral led and the team on the referral date, worked out at
    -- build time (derived.sql, `cin_episode_flow`)
    SELECT cin_episode_id, child_id, referral_nfa, has_asmt, has_s47, has_cinp, has_cpp, looked_after_in_year,
           team
    FROM cin_episode_flow
    WHERE census_year = $census_year
),
links AS (
    SELECT child_id, team, 'Referral' AS source,
           CASE WHEN referral_nfa THEN 'No further action'
                WHEN has_asmt THEN 'Assessment'
                WHEN has_s47 THEN 'Section 47'
                ELSE 'Awaiting or no assessment' END AS target
    FROM f
    UNION ALL
    SELECT child_id, team, 'Assessment',
           CASE WHEN has_s47 THEN 'Section 47' WHEN has_cinp THEN 'CIN plan' WHEN has_cpp THEN 'CP plan'
                ELSE 'No further action' END
    FROM f WHERE has_asmt AND NOT referral_nfa
    UNION ALL
    SELECT child_id, team, 'Section 47',
           CASE WHEN has_cpp THEN 'CP plan' WHEN has_cinp THEN 'CIN plan' ELSE 'No further action' END
    FROM f WHERE has_s47 AND NOT referral_nfa
    UNION ALL
    SELECT f.child_id, f.team, CASE WHEN f.has_cpp THEN 'CP plan' ELSE 'CIN plan' END, 'Looked after'
    FROM f
    WHERE f.looked_after_in_year AND (f.has_cpp OR f.has_cinp) AND NOT f.referral_nfa
),
base AS (
    SELECT child_id, source AS source_v, target AS target_v, team AS team_v FROM links
),
-- Distinct children per cell without GROUP BY CUBE's DISTINCT aggregation over every link per grouping set:
-- each kind of link (source, target) gets a bit; each child gets the set of its links' bits, per team and
-- overall (two aggregations). A cell counts the children whose set meets the cell's bits (one link kind, every
-- kind from a source, every kind to a target, or any), summed over the few distinct (team, set) pairs.
-- Same cells and counts as GROUP BY CUBE (source_v, target_v, team_v) with count(DISTINCT child_id).
kinds AS (
    SELECT source_v, target_v, CAST(1 AS BIGINT) << CAST(row_number() OVER (ORDER BY source_v, target_v) - 1 AS INTEGER) AS bit
    FROM (SELECT DISTINCT source_v, target_v FROM base)
),
per_team AS (
    SELECT b.child_id, b.team_v, bit_or(k.bit) AS bits
    FROM base b JOIN kinds k USING (source_v, target_v)
    GROUP BY b.child_id, b.team_v
),
sets AS (
    SELECT TRUE AS team_kept, team_v, bits, count(*) AS n FROM per_team GROUP BY ALL
    UNION ALL
    SELECT FALSE, NULL, bits, count(*)
    FROM (SELECT child_id, bit_or(bits) AS bits FROM per_team GROUP BY child_id)
    GROUP BY ALL
),
cell_bits AS (
    SELECT 3 AS kept, source_v AS source, target_v AS target, bit AS mask FROM kinds
    UNION ALL SELECT 2, source_v, 'Total', bit_or(bit) FROM kinds GROUP BY source_v
    UNION ALL SELECT 1, 'Total', target_v, bit_or(bit) FROM kinds GROUP BY target_v
    UNION ALL SELECT 0, 'Total', 'Total', bit_or(bit) FROM kinds HAVING count(*) > 0
)
SELECT cb.source, cb.target, CASE WHEN s.team_kept THEN s.team_v ELSE 'Total' END AS team,
       CAST(sum(s.n) AS BIGINT) AS children
FROM cell_bits cb JOIN sets s ON s.bits & cb.mask <> 0
GROUP BY cb.kept, s.team_kept, cb.source, cb.target, team
UNION ALL
-- no referral in scope: the grand total alone, zero (as CUBE gives)
SELECT 'Total', 'Total', 'Total', CAST(0 AS BIGINT) WHERE NOT EXISTS (SELECT 1 FROM base)
ORDER BY ALL
