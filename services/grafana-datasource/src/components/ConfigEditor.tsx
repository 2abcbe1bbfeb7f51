import React, { ChangeEvent } from 'react';

import {
  DataSourcePluginOptionsEditorProps,
  onUpdateDatasourceJsonDataOption,
  onUpdateDatasourceSecureJsonDataOption,
  updateDatasourcePluginResetOption,
} from '@grafana/data';
import { FieldSet, InlineField, InlineSwitch, Input, SecretInput, Select } from '@grafana/ui';

import { VigilOptions, VigilSecureOptions } from '../types';

type Props = DataSourcePluginOptionsEditorProps<VigilOptions, VigilSecureOptions>;

const w = 40;
const lw = 24;

export function ConfigEditor(props: Props) {
  const { options, onOptionsChange } = props;
  const { jsonData, secureJsonFields } = options;
  const secure = (options.secureJsonData ?? {}) as VigilSecureOptions;
  const text = (key: keyof VigilOptions, label: string, placeholder: string, tooltip: string) => (
    <InlineField label={label} labelWidth={lw} tooltip={tooltip}>
      <Input
        width={w}
        value={(jsonData[key] as string | undefined) ?? ''}
        placeholder={placeholder}
        onChange={onUpdateDatasourceJsonDataOption(props, key)}
      />
    </InlineField>
  );

  return (
    <>
      <FieldSet label="ClickHouse">
        {text('addr', 'Address', '127.0.0.1:9000', 'Native-protocol host:port pairs, comma-separated')}
        {text('database', 'Database', 'vigil', "The database holding Vigil's tables")}
        {text('username', 'User', 'default', 'A read-only ClickHouse user is enough')}
        <InlineField label="Password" labelWidth={lw}>
          <SecretInput
            width={w}
            isConfigured={!!secureJsonFields?.password}
            value={secure.password ?? ''}
            onChange={onUpdateDatasourceSecureJsonDataOption(props, 'password')}
            onReset={() => updateDatasourcePluginResetOption(props, 'password')}
          />
        </InlineField>
        {text('queryTimeout', 'Query timeout', '60s', 'Bound on one query, a Go duration')}
        <InlineField label="Max rows" labelWidth={lw} tooltip="Most rows a table query returns">
          <Input
            type="number"
            width={w}
            value={jsonData.maxRows ?? ''}
            placeholder="10000"
            onChange={(e: ChangeEvent<HTMLInputElement>) =>
              onOptionsChange({
                ...options,
                jsonData: { ...jsonData, maxRows: e.currentTarget.value ? Number(e.currentTarget.value) : undefined },
              })
            }
          />
        </InlineField>
      </FieldSet>
      <FieldSet label="Tenant">
        {text(
          'tenant',
          'Pinned tenant',
          'not pinned',
          'Pin the data source to one tenant: every query, raw SQL included, sees its rows only'
        )}
        {text('defaultTenant', 'Default tenant', 'default', 'Tenant of queries that name none, when not pinned')}
      </FieldSet>
      <FieldSet label="Live alerts (Kafka)">
        {text('kafkaBrokers', 'Brokers', 'none: no live stream', 'host:port pairs, comma-separated')}
        {text('alertsTopic', 'Alerts topic', 'vigil.alerts', 'The topic the processor publishes alerts on')}
        <InlineField label="SASL mechanism" labelWidth={lw}>
          <Select
            width={w}
            options={['', 'PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'].map((m) => ({ value: m, label: m || 'none' }))}
            value={jsonData.kafkaSaslMechanism ?? ''}
            onChange={(v) => onOptionsChange({ ...options, jsonData: { ...jsonData, kafkaSaslMechanism: v.value } })}
          />
        </InlineField>
        {text('kafkaSaslUsername', 'SASL user', '', 'User for SASL')}
        <InlineField label="SASL password" labelWidth={lw}>
          <SecretInput
            width={w}
            isConfigured={!!secureJsonFields?.kafkaSaslPassword}
            value={secure.kafkaSaslPassword ?? ''}
            onChange={onUpdateDatasourceSecureJsonDataOption(props, 'kafkaSaslPassword')}
            onReset={() => updateDatasourcePluginResetOption(props, 'kafkaSaslPassword')}
          />
        </InlineField>
        <InlineField label="TLS" labelWidth={lw}>
          <InlineSwitch
            value={!!jsonData.kafkaTls}
            onChange={(e: React.FormEvent<HTMLInputElement>) =>
              onOptionsChange({ ...options, jsonData: { ...jsonData, kafkaTls: e.currentTarget.checked } })
            }
          />
        </InlineField>
      </FieldSet>
    </>
  );
}
