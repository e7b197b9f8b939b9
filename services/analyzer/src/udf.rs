//! Scalar functions the rules use beyond DataFusion's built-ins.
//!
//! - `haversine_km(lat1, lon1, lat2, lon2)`: great-circle distance in kilometres (Float64).
//! - `hour_of_week(ts)`: 0 = Monday 00:00 UTC … 167 = Sunday 23:00 UTC (Int64), the same
//!   bucketing the `user_hours` state table uses.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMillisecondType};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};

pub fn haversine(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * a.sqrt().min(1.0).asin()
}

fn arrays(args: &[ColumnarValue]) -> Result<(Vec<ArrayRef>, usize)> {
    let len = args
        .iter()
        .find_map(|a| match a {
            ColumnarValue::Array(a) => Some(a.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1);
    let arrays = args
        .iter()
        .map(|a| a.to_array(len))
        .collect::<Result<Vec<_>>>()?;
    Ok((arrays, len))
}

fn haversine_udf() -> ScalarUDF {
    create_udf(
        "haversine_km",
        vec![DataType::Float64; 4],
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let (a, len) = arrays(args)?;
            let f: Vec<&Float64Array> = a
                .iter()
                .map(|x| {
                    x.as_primitive_opt::<Float64Type>().ok_or_else(|| {
                        DataFusionError::Execution("haversine_km takes Float64 arguments".into())
                    })
                })
                .collect::<Result<_>>()?;
            let out: Float64Array = (0..len)
                .map(|i| {
                    if f.iter().any(|c| c.is_null(i)) {
                        None
                    } else {
                        Some(haversine(
                            f[0].value(i),
                            f[1].value(i),
                            f[2].value(i),
                            f[3].value(i),
                        ))
                    }
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

fn hour_of_week_udf() -> ScalarUDF {
    create_udf(
        "hour_of_week",
        vec![DataType::Timestamp(
            TimeUnit::Millisecond,
            Some("UTC".into()),
        )],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let (a, _) = arrays(args)?;
            let t = a[0]
                .as_primitive_opt::<TimestampMillisecondType>()
                .ok_or_else(|| {
                    DataFusionError::Execution("hour_of_week takes a millisecond timestamp".into())
                })?;
            let out: Int64Array = t
                .iter()
                .map(|v| v.map(crate::state::hour_of_week))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

pub fn all() -> Vec<ScalarUDF> {
    vec![haversine_udf(), hour_of_week_udf()]
}

#[cfg(test)]
mod tests {
    use super::haversine;

    #[test]
    fn haversine_matches_known_distance() {
        // Paris → New York ≈ 5,837 km.
        let d = haversine(48.8566, 2.3522, 40.7128, -74.0060);
        assert!((d - 5837.0).abs() < 15.0, "{d}");
        assert_eq!(haversine(1.0, 2.0, 1.0, 2.0), 0.0);
    }
}
