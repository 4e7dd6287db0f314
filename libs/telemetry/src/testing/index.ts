/** Test and benchmark helpers (`@nova/telemetry/testing`); not used by the services. */
export { startOtlpCollector, type ExportTotals, type OtlpCollector, type ReceivedExport } from './otlp-collector.ts';
export { spanCountInProtobuf, spanNamesInProtobuf } from './otlp-span-names.ts';
