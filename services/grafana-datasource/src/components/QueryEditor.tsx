import React, { ChangeEvent } from 'react';

import { QueryEditorProps, SelectableValue } from '@grafana/data';
import { InlineField, InlineFieldRow, Input, MultiSelect, Select, TextArea } from '@grafana/ui';

import { DataSource } from '../datasource';
import { forensicQueries, QueryType, VigilOptions, VigilQuery } from '../types';

type Props = QueryEditorProps<DataSource, VigilQuery, VigilOptions>;

const queryTypes: Array<SelectableValue<QueryType>> = [
  { value: 'timeline', label: 'Entity timeline', description: "An entity's feature over time, its baseline band and anomaly score" },
  { value: 'topEntities', label: 'Top anomalous entities', description: 'Entities with the highest anomaly score in the range' },
  { value: 'alertFeed', label: 'Alert feed', description: 'Alerts in the range, newest first' },
  { value: 'alertRate', label: 'Alert rate', description: 'Alerts per interval, by severity' },
  { value: 'openIncidents', label: 'Open incidents', description: 'Incidents whose latest alert is firing' },
  { value: 'alertStream', label: 'Live alerts', description: 'The newest alerts, then every new one as it is raised' },
  { value: 'eventSearch', label: 'Event search', description: 'Events matching filters and text' },
  { value: 'eventCounts', label: 'Event counts', description: 'Events per interval, by source, category or outcome' },
  { value: 'forensic', label: 'Forensic question', description: "A query of Vigil's forensic library" },
  { value: 'sql', label: 'SQL', description: 'Raw SQL with macros' },
  { value: 'tenants', label: 'Tenants', description: 'Tenants with events (for variables)' },
  { value: 'entities', label: 'Entities', description: 'Scored entities, most anomalous first (for variables)' },
];

const entityFields: Array<SelectableValue<string>> = [
  { value: '', label: 'any' },
  { value: 'source.ip', label: 'source IP' },
  { value: 'user.name', label: 'user' },
  { value: 'host.name', label: 'host' },
];

const severities: Array<SelectableValue<string>> = ['', 'info', 'low', 'medium', 'high', 'critical'].map((s) => ({
  value: s,
  label: s || 'any',
}));

const statuses: Array<SelectableValue<string>> = ['', 'firing', 'resolved'].map((s) => ({ value: s, label: s || 'any' }));

const formats: Array<SelectableValue<string>> = [
  { value: 'table', label: 'Table' },
  { value: 'time_series', label: 'Time series' },
];

/** A labelled choice among options. */
function pick(label: string, options: Array<SelectableValue<string>>, value: string, onChange: (v: string) => void) {
  return (
    <InlineField label={label} labelWidth={16} key={label}>
      <Select width={16} options={options} value={value} onChange={(v) => onChange(v.value ?? '')} />
    </InlineField>
  );
}

/** Text fields each query type reads, in the order they are shown. */
const textFields: Record<QueryType, Array<keyof VigilQuery>> = {
  timeline: ['entity', 'profile', 'feature'],
  topEntities: ['profile'],
  alertFeed: ['entity', 'profile'],
  alertRate: ['entity', 'profile'],
  openIncidents: ['entity', 'profile'],
  alertStream: ['entity', 'profile'],
  eventSearch: ['srcIp', 'user', 'host', 'source', 'category', 'outcome', 'text', 'entity'],
  eventCounts: ['source', 'category', 'outcome'],
  forensic: [],
  sql: [],
  tenants: [],
  entities: ['profile'],
};

const labels: Partial<Record<keyof VigilQuery, string>> = {
  srcIp: 'Source IP',
  text: 'Message contains',
};

function label(key: string): string {
  return labels[key as keyof VigilQuery] ?? key.charAt(0).toUpperCase() + key.slice(1);
}

/** Params of a forensic query as "name=value" pairs separated by spaces. */
function paramsText(params?: Record<string, string>): string {
  return Object.entries(params ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

function parseParams(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(/\s+/)) {
    const i = part.indexOf('=');
    if (i > 0) {
      out[part.slice(0, i)] = part.slice(i + 1);
    }
  }
  return out;
}

export function QueryEditor({ query, onChange, onRunQuery, datasource }: Props) {
  const type = query.queryType ?? 'topEntities';
  const set = (patch: Partial<VigilQuery>, run = true) => {
    onChange({ ...query, ...patch });
    if (run) {
      onRunQuery();
    }
  };
  const text = (key: keyof VigilQuery) => (
    <InlineField label={label(key)} labelWidth={16} key={key}>
      <Input
        width={28}
        value={(query[key] as string | undefined) ?? ''}
        onChange={(e: ChangeEvent<HTMLInputElement>) => set({ [key]: e.currentTarget.value }, false)}
        onBlur={onRunQuery}
      />
    </InlineField>
  );
  const number = (key: 'band' | 'minScore' | 'limit', tooltip: string) => (
    <InlineField label={label(key)} labelWidth={16} tooltip={tooltip} key={key}>
      <Input
        type="number"
        width={12}
        value={query[key] ?? ''}
        onChange={(e: ChangeEvent<HTMLInputElement>) =>
          set({ [key]: e.currentTarget.value === '' ? undefined : Number(e.currentTarget.value) }, false)
        }
        onBlur={onRunQuery}
      />
    </InlineField>
  );
  const alertish = ['alertFeed', 'alertRate', 'openIncidents', 'alertStream'].includes(type);

  return (
    <div>
      <InlineFieldRow>
        <InlineField label="Query" labelWidth={16}>
          <Select
            width={32}
            options={queryTypes}
            value={type}
            onChange={(v) => set({ queryType: v.value })}
          />
        </InlineField>
        {!datasource.pinnedTenant && text('tenant')}
      </InlineFieldRow>
      <InlineFieldRow>
        {textFields[type].map(text)}
        {['timeline', 'topEntities', 'alertFeed', 'alertRate', 'openIncidents', 'alertStream', 'eventSearch', 'entities'].includes(
          type
        ) && (
          pick('Entity field', entityFields, query.entityField ?? '', (v) =>
            set({ entityField: v as VigilQuery['entityField'] })
          )
        )}
        {type === 'timeline' && number('band', 'Spreads either side of the expectation (default 1)')}
        {type === 'topEntities' && number('minScore', 'Lowest peak anomaly score listed, 0 to 1')}
        {alertish && pick('Min severity', severities, query.minSeverity ?? '', (v) =>
          set({ minSeverity: v as VigilQuery['minSeverity'] })
        )}
        {alertish &&
          type !== 'openIncidents' &&
          pick('Status', statuses, query.status ?? '', (v) => set({ status: v as VigilQuery['status'] }))}
        {type === 'eventCounts' && (
          <InlineField label="Group by" labelWidth={16}>
            <MultiSelect
              width={40}
              options={['source', 'category', 'outcome'].map((d) => ({ value: d, label: d }))}
              value={query.groupBy ?? ['category', 'outcome']}
              onChange={(v: Array<SelectableValue<string>>) => set({ groupBy: v.map((x) => x.value!) })}
            />
          </InlineField>
        )}
        {!['timeline', 'alertRate', 'eventCounts', 'tenants'].includes(type) && number('limit', 'Most rows returned')}
      </InlineFieldRow>
      {type === 'forensic' && (
        <InlineFieldRow>
          <InlineField label="Question" labelWidth={16}>
            <Select
              width={32}
              options={forensicQueries.map((q) => ({ value: q, label: q }))}
              value={query.forensic}
              onChange={(v) => set({ forensic: v.value })}
            />
          </InlineField>
          <InlineField label="Parameters" labelWidth={16} tooltip="name=value pairs, e.g. ip=203.0.113.7 limit=100">
            <Input
              width={60}
              defaultValue={paramsText(query.params)}
              onBlur={(e) => set({ params: parseParams(e.currentTarget.value) })}
            />
          </InlineField>
        </InlineFieldRow>
      )}
      {type === 'sql' && (
        <>
          <TextArea
            rows={8}
            value={query.rawSql ?? ''}
            placeholder="SELECT $__timeInterval(timestamp) AS time, count() AS n FROM $__events GROUP BY time ORDER BY time"
            onChange={(e: ChangeEvent<HTMLTextAreaElement>) => set({ rawSql: e.currentTarget.value }, false)}
            onBlur={onRunQuery}
          />
          <InlineFieldRow>
            {pick('Format', formats, query.format ?? 'table', (v) => set({ format: v as VigilQuery['format'] }))}
          </InlineFieldRow>
        </>
      )}
    </div>
  );
}
