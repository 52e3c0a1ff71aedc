-- title: Children in need, on a CP plan and looked after per 10,000 children
-- definition: >
--   Children in need at 31 March (as cin_at_31_march), children on a child protection plan at 31 March (as
--   cp_plans_at_31_march) and children looked after at 31 March (as cla_at_31_march, V3/V4 left out), each per
--   10,000 children aged 0 to 17 in the ONS mid-year population estimate for the year before (census year
--   2025 uses mid-2024), rounded to 1 decimal place. By age band and sex, the population of the same band:
--   ages 0 (Under 1), 1-4, 5-9, 10-15, 16-17 (16+). Children with an unknown or unborn age band or unknown sex
--   count in the totals but have no population of their own, so their rate is empty. England's published
--   rates for 2024-25 are in this header (england) for reference.
-- source: >
--   DfE statistics "Children in need" 2024-25 and "Children looked after in England including
--   adoptions" 2024-25 (rates per 10,000 children aged under 18); ONS mid-year population estimates.
-- unit: rate per 10,000 children
-- shape: aggregate
-- england: {year: 2025, cin_rate: 330.3, cpp_rate: 40.6, cla_rate: 67.0}
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [age_band, sex]
-- columns:
--   - {name: age_band, kind: dimension, label: Age at 31 March}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: population, kind: count, label: Children aged 0-17 (ONS mid-year estimate)}
--   - {name: cin_children, kind: count, label: Children in need}
--   - {name: cin_rate, kind: rate, numerator: cin_children, denominator: population, label: "Children in need per 10,000"}
--   - {name: cpp_children, kind: count, label: Children on a CP plan}
--   - {name: cpp_rate, kind: rate, numerator: cpp_children, denominator: population, label: "CP plans per 10,000"}
--   - {name: cla_children, kind: count, label: Children looked after}
--   - {name: cla_rate, kind: rate, numerator: cla_children, denominator: population, label: "Looked after per 10,000"}
WITH ref AS (SELECT census_end($census_year) AS d),
kb AS (
    -- children with an open CIN episode (not NFA), an open CP plan or looked after at 31 March, worked out at
    -- build time (derived.sql, `child_census`)
    SELECT e.child_id, e.cin_open AS is_cin, e.cp_open AS is_cpp, e.cla_open AS is_cla,
           child_age_band(e.dob, e.expected_dob, ref.d) AS age_band_v,
           e.sex AS sex_v
    FROM child_census e CROSS JOIN ref
    WHERE e.census_year = census_clamp($census_year)
),
num AS (
    SELECT CASE WHEN GROUPING(age_band_v) = 1 THEN 'Total' ELSE age_band_v END AS age_band,
           CASE WHEN GROUPING(sex_v) = 1 THEN 'Total' ELSE sex_v END AS sex,
           count(*) FILTER (WHERE is_cin) AS cin_children,
           count(*) FILTER (WHERE is_cpp) AS cpp_children,
           count(*) FILTER (WHERE is_cla) AS cla_children
    FROM kb
    GROUP BY CUBE (age_band_v, sex_v)
),
pop AS (
    SELECT CASE WHEN GROUPING(band) = 1 THEN 'Total' ELSE band END AS age_band,
           CASE WHEN GROUPING(sex_v) = 1 THEN 'Total' ELSE sex_v END AS sex,
           sum(population) AS population
    FROM (SELECT CASE WHEN age < 1 THEN 'Under 1' WHEN age < 5 THEN '1-4' WHEN age < 10 THEN '5-9'
                      WHEN age < 16 THEN '10-15' ELSE '16+' END AS band,
                 sex_label(sex) AS sex_v, population
          FROM population
          WHERE mid_year = $census_year - 1 AND age BETWEEN 0 AND 17)
    GROUP BY CUBE (band, sex_v)
)
-- FULL JOIN: a band with a population and no children is a true zero (rate 0.0), not a missing row.
SELECT age_band, sex,
       p.population::BIGINT AS population,
       coalesce(n.cin_children, 0) AS cin_children,
       round(10000.0 * coalesce(n.cin_children, 0) / nullif(p.population, 0), 1) AS cin_rate,
       coalesce(n.cpp_children, 0) AS cpp_children,
       round(10000.0 * coalesce(n.cpp_children, 0) / nullif(p.population, 0), 1) AS cpp_rate,
       coalesce(n.cla_children, 0) AS cla_children,
       round(10000.0 * coalesce(n.cla_children, 0) / nullif(p.population, 0), 1) AS cla_rate
FROM num n FULL JOIN pop p USING (age_band, sex)
ORDER BY ALL
