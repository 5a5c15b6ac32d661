//! `pod replay`: the event history for analysts, filtered, as JSON Lines or
//! Parquet (typed envelope columns, JSON payload), to a file or stdout.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use pod_events::envelope::EventView;
use pod_events::store::reader::{LogReader, Start};
use pod_events::{Namespace, RecordedEvent, TenantId};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Jsonl,
    Parquet,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// First stream sequence to export.
    #[arg(long, conflicts_with = "since")]
    pub from_seq: Option<u64>,
    /// Export events stored at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<DateTime<Utc>>,
    /// Stop at events that occurred after this time (RFC 3339).
    #[arg(long)]
    pub until: Option<DateTime<Utc>>,
    /// Only this aggregate type (trend, idea, design, listing, shop, order).
    #[arg(long)]
    pub aggregate: Option<String>,
    /// Only these event types (repeatable), e.g. --event-type TrendObserved.
    #[arg(long = "event-type")]
    pub event_types: Vec<String>,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    pub format: Format,
    /// Output file; stdout when omitted or "-".
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Events per Parquet row group.
    #[arg(long, default_value_t = 10_000)]
    pub row_group: usize,
}

use pod_events::domain::AGGREGATE_TYPES as AGGREGATES;

pub async fn run(client: async_nats::Client, ns: &Namespace, args: ReplayArgs) -> anyhow::Result<u64> {
    if let Some(a) = &args.aggregate
        && !AGGREGATES.contains(&a.as_str())
    {
        bail!("--aggregate {a:?} is not an aggregate type; use one of {}", AGGREGATES.join(", "));
    }
    let tenant = match &args.tenant {
        Some(t) => Some(TenantId::parse(t.clone()).context("--tenant")?),
        None => None,
    };
    let start = match (args.from_seq, args.since) {
        (Some(s), _) => Start::Sequence(s),
        (_, Some(t)) => Start::Time(t),
        _ => Start::All,
    };
    let filter = ns.events_filter(args.aggregate.as_deref(), tenant.as_ref());
    let mut reader = LogReader::open(client, ns, vec![filter], start).await?;
    let out: Box<dyn Write + Send> = match &args.output {
        Some(p) if p.as_os_str() != "-" => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        _ => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let progress = if std::io::stderr().is_terminal() {
        let pb = indicatif::ProgressBar::new(reader.last_seq_at_open);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seq  {per_sec}  eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(pb)
    } else {
        None
    };
    let mut sink = match args.format {
        Format::Jsonl => Sink::Jsonl(out),
        Format::Parquet => Sink::Parquet {
            writer: Box::new(ParquetSink::new(out)?),
            pending: Vec::new(),
            row_group: args.row_group.max(1),
        },
    };
    let mut written = 0u64;
    loop {
        let batch = reader.next_messages(1000).await?;
        if batch.is_empty() {
            break;
        }
        for m in &batch {
            // Read in place: the payload is copied through, never parsed.
            let e = EventView::from_jetstream(ns, m)?;
            if let Some(pb) = &progress {
                pb.set_position(e.head.stream_seq);
            }
            // Filtered, not a stop: occurred-at comes from each writer's clock
            // and need not grow with the stream sequence.
            if args.until.is_some_and(|until| e.head.occurred_at > until) {
                continue;
            }
            if !args.event_types.is_empty() && !args.event_types.iter().any(|t| t == e.head.event_type) {
                continue;
            }
            sink.push(&e)?;
            written += 1;
        }
        if reader.caught_up() {
            break;
        }
    }
    sink.finish()?;
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    Ok(written)
}

enum Sink {
    Jsonl(Box<dyn Write + Send>),
    Parquet { writer: Box<ParquetSink>, pending: Vec<RecordedEvent>, row_group: usize },
}

impl Sink {
    fn push(&mut self, e: &EventView<'_>) -> anyhow::Result<()> {
        match self {
            Sink::Jsonl(w) => {
                serde_json::to_writer(&mut *w, e)?;
                w.write_all(b"\n")?;
            }
            Sink::Parquet { writer, pending, row_group } => {
                pending.push(e.to_recorded()?);
                if pending.len() >= *row_group {
                    writer.write(pending)?;
                    pending.clear();
                }
            }
        }
        Ok(())
    }
    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Jsonl(mut w) => w.flush()?,
            Sink::Parquet { mut writer, pending, .. } => {
                writer.write(&pending)?;
                writer.finish()?;
            }
        }
        Ok(())
    }
}

/// The Parquet layout: typed envelope columns, the payload as a JSON column.
pub const PARQUET_SCHEMA: &str = "
message pod_event {
  REQUIRED INT64 stream_seq;
  REQUIRED BYTE_ARRAY subject (STRING);
  REQUIRED BYTE_ARRAY aggregate_type (STRING);
  REQUIRED BYTE_ARRAY tenant (STRING);
  REQUIRED BYTE_ARRAY aggregate_id (STRING);
  REQUIRED INT64 aggregate_seq;
  REQUIRED BYTE_ARRAY event_type (STRING);
  REQUIRED INT32 event_version;
  REQUIRED BYTE_ARRAY command_id (STRING);
  REQUIRED BYTE_ARRAY correlation_id (STRING);
  REQUIRED BYTE_ARRAY causation_id (STRING);
  REQUIRED INT64 occurred_at (TIMESTAMP(MICROS,true));
  OPTIONAL BYTE_ARRAY traceparent (STRING);
  REQUIRED BYTE_ARRAY payload (JSON);
}";

struct ParquetSink {
    writer: SerializedFileWriter<Box<dyn Write + Send>>,
}

impl ParquetSink {
    fn new(out: Box<dyn Write + Send>) -> anyhow::Result<Self> {
        let schema = Arc::new(parquet::schema::parser::parse_message_type(PARQUET_SCHEMA)?);
        let props = Arc::new(WriterProperties::builder().set_compression(Compression::SNAPPY).build());
        Ok(Self { writer: SerializedFileWriter::new(out, schema, props)? })
    }

    fn write(&mut self, events: &[RecordedEvent]) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let text = |f: fn(&RecordedEvent) -> &str| -> Vec<ByteArray> {
            events.iter().map(|e| ByteArray::from(f(e))).collect()
        };
        let mut rg = self.writer.next_row_group()?;
        let mut i = 0;
        while let Some(mut col) = rg.next_column()? {
            match i {
                0 => col.typed::<Int64Type>().write_batch(
                    &events.iter().map(|e| e.stream_seq as i64).collect::<Vec<_>>(),
                    None,
                    None,
                )?,
                1 => col.typed::<ByteArrayType>().write_batch(&text(|e| &e.subject), None, None)?,
                2 => col.typed::<ByteArrayType>().write_batch(&text(|e| &e.aggregate_type), None, None)?,
                3 => col.typed::<ByteArrayType>().write_batch(&text(|e| &e.tenant), None, None)?,
                4 => col.typed::<ByteArrayType>().write_batch(&text(|e| &e.aggregate_id), None, None)?,
                5 => col.typed::<Int64Type>().write_batch(
                    &events.iter().map(|e| e.aggregate_seq as i64).collect::<Vec<_>>(),
                    None,
                    None,
                )?,
                6 => col.typed::<ByteArrayType>().write_batch(&text(|e| &e.event_type), None, None)?,
                7 => col.typed::<Int32Type>().write_batch(
                    &events.iter().map(|e| e.event_version as i32).collect::<Vec<_>>(),
                    None,
                    None,
                )?,
                8 => col.typed::<ByteArrayType>().write_batch(&text(|e| &e.command_id), None, None)?,
                9 => col.typed::<ByteArrayType>().write_batch(&text(|e| &e.correlation_id), None, None)?,
                10 => col.typed::<ByteArrayType>().write_batch(&text(|e| &e.causation_id), None, None)?,
                11 => col.typed::<Int64Type>().write_batch(
                    &events.iter().map(|e| e.occurred_at.timestamp_micros()).collect::<Vec<_>>(),
                    None,
                    None,
                )?,
                12 => {
                    let values: Vec<ByteArray> =
                        events.iter().filter_map(|e| e.traceparent.as_deref().map(ByteArray::from)).collect();
                    let defs: Vec<i16> = events.iter().map(|e| i16::from(e.traceparent.is_some())).collect();
                    col.typed::<ByteArrayType>().write_batch(&values, Some(&defs), None)?
                }
                13 => {
                    let values: Vec<ByteArray> =
                        events.iter().map(|e| ByteArray::from(e.payload.to_string().into_bytes())).collect();
                    col.typed::<ByteArrayType>().write_batch(&values, None, None)?
                }
                _ => bail!("parquet schema has more columns than the writer knows"),
            };
            col.close()?;
            i += 1;
        }
        rg.close()?;
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        let mut inner = self.writer.into_inner()?;
        inner.flush()?;
        Ok(())
    }
}
