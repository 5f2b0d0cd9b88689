//! Parquet files of sales and of per-customer metrics, for outside tools (pandas,
//! DuckDB, Spark, a BI tool).
//!
//! Written with the `parquet` crate's column writer (no Arrow), Snappy-compressed, every
//! column optional (nullable), in row groups of [`ROW_GROUP`] rows. Types: text as
//! UTF-8 strings, amounts in fen and volumes in ml as 64-bit integers, figures as
//! doubles, times as local timestamps in microseconds (not adjusted to UTC: the
//! station's wall-clock time, as in the sales), days as dates.

use crate::clv::ClvReport;
use crate::rfm::RfmRow;
use crate::sales::SaleRow;
use crate::transactions::{Day, Transactions};
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::io::Write;
use std::sync::Arc;

/// Rows per row group.
pub const ROW_GROUP: usize = 128 * 1024;

/// The values of one column; None is null.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    /// Microseconds since 1970-01-01 00:00 of the local clock.
    LocalMicros(Vec<Option<i64>>),
    Date(Vec<Option<Day>>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Text(v) => v.len(),
            Values::Int(v) | Values::LocalMicros(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Bool(v) => v.len(),
            Values::Date(v) => v.len(),
        }
    }

    fn schema(&self, name: &str) -> String {
        match self {
            Values::Text(_) => format!("OPTIONAL BYTE_ARRAY {name} (UTF8);"),
            Values::Int(_) => format!("OPTIONAL INT64 {name};"),
            Values::Float(_) => format!("OPTIONAL DOUBLE {name};"),
            Values::Bool(_) => format!("OPTIONAL BOOLEAN {name};"),
            Values::LocalMicros(_) => format!("OPTIONAL INT64 {name} (TIMESTAMP(MICROS,false));"),
            Values::Date(_) => format!("OPTIONAL INT32 {name} (DATE);"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// A name of letters, digits and underscores.
    pub name: &'static str,
    pub values: Values,
}

/// The definition levels and the present values of a range of a column.
fn split<T: Clone>(values: &[Option<T>]) -> (Vec<i16>, Vec<T>) {
    let levels = values.iter().map(|v| i16::from(v.is_some())).collect();
    let present = values.iter().flatten().cloned().collect();
    (levels, present)
}

/// Writes the columns (all of the same length) as one Parquet file.
pub fn write_columns<W: Write + Send>(out: W, columns: &[Column]) -> Result<(), ParquetError> {
    let rows = columns.first().map_or(0, |c| c.values.len());
    if let Some(c) = columns.iter().find(|c| c.values.len() != rows) {
        return Err(ParquetError::General(format!(
            "column {} has {} values where the first has {rows}",
            c.name,
            c.values.len()
        )));
    }
    let fields: String = columns.iter().map(|c| c.values.schema(c.name)).collect();
    let schema = Arc::new(parse_message_type(&format!(
        "message forecourt {{ {fields} }}"
    ))?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by("forecourt".into())
            .build(),
    );
    let mut writer = SerializedFileWriter::new(out, schema, props)?;
    let mut start = 0;
    while start < rows || (rows == 0 && start == 0) {
        let end = (start + ROW_GROUP).min(rows);
        let mut group = writer.next_row_group()?;
        for column in columns {
            let mut w = group
                .next_column()?
                .ok_or_else(|| ParquetError::General("fewer columns than the schema".into()))?;
            match &column.values {
                Values::Text(v) => {
                    let (levels, present) = split(&v[start..end]);
                    let bytes: Vec<ByteArray> = present
                        .into_iter()
                        .map(|s| ByteArray::from(s.into_bytes()))
                        .collect();
                    w.typed::<ByteArrayType>()
                        .write_batch(&bytes, Some(&levels), None)?;
                }
                Values::Int(v) | Values::LocalMicros(v) => {
                    let (levels, present) = split(&v[start..end]);
                    w.typed::<Int64Type>()
                        .write_batch(&present, Some(&levels), None)?;
                }
                Values::Float(v) => {
                    let (levels, present) = split(&v[start..end]);
                    w.typed::<DoubleType>()
                        .write_batch(&present, Some(&levels), None)?;
                }
                Values::Bool(v) => {
                    let (levels, present) = split(&v[start..end]);
                    w.typed::<BoolType>()
                        .write_batch(&present, Some(&levels), None)?;
                }
                Values::Date(v) => {
                    let (levels, present) = split(&v[start..end]);
                    w.typed::<Int32Type>()
                        .write_batch(&present, Some(&levels), None)?;
                }
            }
            w.close()?;
        }
        group.close()?;
        if rows == 0 {
            break;
        }
        start = end;
    }
    writer.close()?;
    Ok(())
}

/// The sales as columns: time, day, hour, station, region, product, kind, payment,
/// customer, net_fen, volume_ml, discount_fen.
pub fn sales_columns(rows: &[SaleRow]) -> Vec<Column> {
    let text = |f: &dyn Fn(&SaleRow) -> Option<String>| Values::Text(rows.iter().map(f).collect());
    let int = |f: &dyn Fn(&SaleRow) -> i64| Values::Int(rows.iter().map(|r| Some(f(r))).collect());
    vec![
        Column {
            name: "time",
            values: Values::LocalMicros(
                rows.iter()
                    .map(|r| Some(r.time.and_utc().timestamp_micros()))
                    .collect(),
            ),
        },
        Column {
            name: "day",
            values: Values::Date(rows.iter().map(|r| Some(r.day())).collect()),
        },
        Column {
            name: "hour",
            values: int(&|r| i64::from(r.hour())),
        },
        Column {
            name: "station",
            values: text(&|r| Some(r.station.clone())),
        },
        Column {
            name: "region",
            values: text(&|r| r.region.clone()),
        },
        Column {
            name: "product",
            values: text(&|r| Some(r.product.clone())),
        },
        Column {
            name: "kind",
            values: text(&|r| Some(r.kind.clone())),
        },
        Column {
            name: "payment",
            values: text(&|r| (!r.payment.is_empty()).then(|| r.payment.clone())),
        },
        Column {
            name: "customer",
            values: text(&|r| r.customer.clone()),
        },
        Column {
            name: "net_fen",
            values: int(&|r| r.net_fen),
        },
        Column {
            name: "volume_ml",
            values: int(&|r| r.volume_ml),
        },
        Column {
            name: "discount_fen",
            values: int(&|r| r.discount_fen),
        },
    ]
}

/// Per-customer metrics as columns: the RFM view (every customer in `rfm`) and, where
/// `clv` has the customer, the CLV figures (null otherwise): customer, recency_days,
/// frequency, monetary, r, f, m, segment, p_alive, expected_transactions,
/// expected_value.
pub fn customer_columns(tx: &Transactions, rfm: &[RfmRow], clv: Option<&ClvReport>) -> Vec<Column> {
    let mut at = vec![None; tx.customers()];
    if let Some(report) = clv {
        for (i, &c) in report.summary.customer.iter().enumerate() {
            at[c as usize] = Some(i);
        }
    }
    let clv_value = |pick: fn(&ClvReport) -> &Vec<f64>| {
        Values::Float(
            rfm.iter()
                .map(|r| {
                    let report = clv?;
                    at[r.customer as usize].map(|i| pick(report)[i])
                })
                .collect(),
        )
    };
    let int = |f: fn(&RfmRow) -> i64| Values::Int(rfm.iter().map(|r| Some(f(r))).collect());
    vec![
        Column {
            name: "customer",
            values: Values::Text(
                rfm.iter()
                    .map(|r| Some(tx.name(r.customer).to_owned()))
                    .collect(),
            ),
        },
        Column {
            name: "recency_days",
            values: int(|r| i64::from(r.recency_days)),
        },
        Column {
            name: "frequency",
            values: int(|r| i64::from(r.frequency)),
        },
        Column {
            name: "monetary",
            values: Values::Float(rfm.iter().map(|r| Some(r.monetary)).collect()),
        },
        Column {
            name: "r",
            values: int(|r| i64::from(r.r)),
        },
        Column {
            name: "f",
            values: int(|r| i64::from(r.f)),
        },
        Column {
            name: "m",
            values: int(|r| i64::from(r.m)),
        },
        Column {
            name: "segment",
            values: Values::Text(
                rfm.iter()
                    .map(|r| Some(r.segment.name().to_owned()))
                    .collect(),
            ),
        },
        Column {
            name: "p_alive",
            values: clv_value(|r| &r.p_alive),
        },
        Column {
            name: "expected_transactions",
            values: clv_value(|r| &r.expected_transactions),
        },
        Column {
            name: "expected_value",
            values: clv_value(|r| &r.expected_value),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfm::rfm;
    use crate::sales::read_sales;
    use crate::summary::Histories;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::{Field, RowAccessor};

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("forecourt-parquet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn sales_read_back_as_written() {
        let text = "time,station,region,product,net_fen,volume_ml,discount_fen,payment,customer\n\
            2024-01-05 08:10:30,S1,BJ,GASOLINE_92,1000,2000,0,card,a\n\
            2024-01-05 08:40:00,S1,,WATER,300,0,0,cash,\n\
            2024-01-06 23:59:59,S2,TJ,DIESEL_0,2000,3000,100,wechat,b\n";
        let rows = read_sales(text.as_bytes()).unwrap();
        let path = temp("sales.parquet");
        write_columns(std::fs::File::create(&path).unwrap(), &sales_columns(&rows)).unwrap();

        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 3);
        let read: Vec<_> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(read.len(), 3);
        let names: Vec<&str> = read[0].get_column_iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[..4], ["time", "day", "hour", "station"]);
        assert_eq!(read[0].get_string(3).unwrap(), "S1");
        assert_eq!(read[0].get_long(2).unwrap(), 8);
        assert_eq!(
            read[0].get_timestamp_micros(0).unwrap(),
            rows[0].time.and_utc().timestamp_micros()
        );
        assert!(
            matches!(read[0].get_column_iter().nth(1).unwrap().1, Field::Date(d) if *d == rows[0].day())
        );
        assert!(read[1].is_null(4).unwrap(), "no region");
        assert!(read[1].is_null(8).unwrap(), "walk-in");
        assert_eq!(read[2].get_string(8).unwrap(), "b");
        assert_eq!(read[2].get_long(9).unwrap(), 2000);
        assert_eq!(read[2].get_long(11).unwrap(), 100);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn customer_metrics_read_back_with_nulls_where_clv_is_missing() {
        let mut tx = Transactions::new(false);
        tx.push("a", 0, 10.0, None);
        tx.push("a", 5, 20.0, None);
        tx.push("b", 3, 7.5, None);
        let rows = rfm(&tx, &Histories::new(&tx), 10);
        let path = temp("customers.parquet");
        write_columns(
            std::fs::File::create(&path).unwrap(),
            &customer_columns(&tx, &rows, None),
        )
        .unwrap();
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let read: Vec<_> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(read.len(), 2);
        let a = read
            .iter()
            .find(|r| r.get_string(0).unwrap() == "a")
            .unwrap();
        assert_eq!(a.get_long(1).unwrap(), 5);
        assert_eq!(a.get_long(2).unwrap(), 2);
        assert_eq!(a.get_double(3).unwrap(), 30.0);
        assert!(a.is_null(8).unwrap());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn many_rows_span_row_groups_and_unequal_columns_are_refused() {
        let n = ROW_GROUP + 10;
        let columns = [Column {
            name: "x",
            values: Values::Int((0..n as i64).map(|i| (i % 3 != 0).then_some(i)).collect()),
        }];
        let path = temp("groups.parquet");
        write_columns(std::fs::File::create(&path).unwrap(), &columns).unwrap();
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 2);
        let mut sum = 0i64;
        let mut nulls = 0;
        for row in reader.get_row_iter(None).unwrap() {
            match row.unwrap().get_long(0) {
                Ok(v) => sum += v,
                Err(_) => nulls += 1,
            }
        }
        let all: i64 = (0..n as i64).sum();
        let null_sum: i64 = (0..n as i64).filter(|i| i % 3 == 0).sum();
        assert_eq!(sum, all - null_sum);
        assert_eq!(nulls, n.div_ceil(3));
        let bad = [
            columns[0].clone(),
            Column {
                name: "y",
                values: Values::Bool(vec![Some(true)]),
            },
        ];
        assert!(write_columns(Vec::new(), &bad).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
