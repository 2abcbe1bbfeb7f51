import {
  CoreApp,
  DataQueryRequest,
  DataSourceInstanceSettings,
  getDefaultTimeRange,
  MetricFindValue,
  ScopedVars,
  TimeRange,
} from '@grafana/data';
import { DataSourceWithBackend, getTemplateSrv } from '@grafana/runtime';
import { lastValueFrom } from 'rxjs';

import { QueryType, VigilOptions, VigilQuery } from './types';

const stringFields: Array<keyof VigilQuery> = [
  'tenant',
  'entity',
  'entityField',
  'profile',
  'feature',
  'srcIp',
  'user',
  'host',
  'source',
  'category',
  'outcome',
  'text',
  'forensic',
  'rawSql',
];

/**
 * Vigil's data source: every query runs in the backend (gpx_vigil), which
 * also serves the live alert stream that alertStream frames point to.
 */
export class DataSource extends DataSourceWithBackend<VigilQuery, VigilOptions> {
  /** The tenant the data source is pinned to, if any. */
  readonly pinnedTenant?: string;

  constructor(settings: DataSourceInstanceSettings<VigilOptions>) {
    super(settings);
    this.pinnedTenant = settings.jsonData.tenant || undefined;
  }

  getDefaultQuery(_: CoreApp): Partial<VigilQuery> {
    return { queryType: 'topEntities' };
  }

  filterQuery(query: VigilQuery): boolean {
    return !query.hide && !!query.queryType;
  }

  /** Dashboard variables in every text field; the backend binds them as values, never as SQL (rawSql aside). */
  applyTemplateVariables(query: VigilQuery, scopedVars: ScopedVars): VigilQuery {
    const srv = getTemplateSrv();
    const out: VigilQuery = { ...query };
    for (const key of stringFields) {
      const v = out[key];
      if (typeof v === 'string') {
        (out as unknown as Record<string, string>)[key] = srv.replace(v, scopedVars);
      }
    }
    if (query.params) {
      out.params = Object.fromEntries(
        Object.entries(query.params).map(([k, v]) => [k, srv.replace(v, scopedVars)])
      );
    }
    return out;
  }

  /** Values of a dashboard variable: "tenants", "entities", or any query whose first column is the value. */
  async metricFindQuery(query: string | VigilQuery, options?: { range?: TimeRange }): Promise<MetricFindValue[]> {
    const target: VigilQuery =
      typeof query === 'string'
        ? { refId: 'variable', queryType: (query.trim() || 'tenants') as QueryType }
        : { ...query, refId: 'variable' };
    const range = options?.range ?? getDefaultTimeRange();
    const request = {
      app: CoreApp.Unknown,
      requestId: `vigil-variable-${target.queryType}`,
      interval: '1m',
      intervalMs: 60_000,
      range,
      scopedVars: {},
      targets: [target],
      timezone: 'utc',
      startTime: Date.now(),
    } as DataQueryRequest<VigilQuery>;
    const response = await lastValueFrom(this.query(request));
    const frame = response.data[0];
    const field = frame?.fields?.[0];
    if (!field) {
      return [];
    }
    const values: MetricFindValue[] = [];
    for (let i = 0; i < field.values.length; i++) {
      values.push({ text: String(field.values[i]) });
    }
    return values;
  }
}
